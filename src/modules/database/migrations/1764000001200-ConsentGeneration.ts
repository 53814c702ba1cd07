import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `consent_generation`: one number that grows with every change of what a requester's consent facts are made of —
 * the base policy (`consent_policy`), break-the-glass sessions (`break_glass_session`), both by triggers here, and
 * PractitionerRoles (the consent module's write hook, in the write's transaction). A hub may keep a requester's facts
 * and have each statement that decides with them read this number in its own snapshot: the same number means the
 * same facts (src/consent/README.md, "What the decision reads, and when").
 */
export class ConsentGeneration1764000001200 implements MigrationInterface {
  name = 'ConsentGeneration1764000001200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE consent_generation (id integer PRIMARY KEY CHECK (id = 1), gen bigint NOT NULL)`);
    await q.query(`INSERT INTO consent_generation (id, gen) VALUES (1, 0)`);
    await q.query(`CREATE FUNCTION consent_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE consent_generation SET gen = gen + 1 WHERE id = 1;
        RETURN NULL;
      END $$`);
    for (const table of ['consent_policy', 'break_glass_session']) {
      await q.query(`CREATE TRIGGER ${table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table}
                     FOR EACH STATEMENT EXECUTE FUNCTION consent_generation_bump()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['consent_policy', 'break_glass_session']) await q.query(`DROP TRIGGER IF EXISTS ${table}_generation ON ${table}`);
    await q.query(`DROP FUNCTION IF EXISTS consent_generation_bump()`);
    await q.query(`DROP TABLE IF EXISTS consent_generation`);
  }
}
