import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Consent enforcement (src/consent): the active patient-privacy Consents flattened into rules (rewritten in the
 * same transaction as every Consent write), the hub's base policy, the organizations that wrote each resource
 * (ownership), and break-the-glass sessions with their review state.
 */
export class Consent1764000000600 implements MigrationInterface {
  name = 'Consent1764000000600';

  async up(q: QueryRunner): Promise<void> {
    // one row per provision (nested provisions inherit their ancestors' conditions); NULL arrays mean "any"
    await q.query(`CREATE TABLE consent_rule (
      consent_rid  bigint      NOT NULL,
      consent_id   text        NOT NULL,
      patient_id   text        NOT NULL,
      provision    text        NOT NULL,
      depth        integer     NOT NULL,
      deny         boolean     NOT NULL,
      actors       text[],
      actions      text[],
      purposes     text[],
      types        text[],
      profiles     text[],
      labels       text[],
      data_lo      timestamptz,
      data_hi      timestamptz,
      data_refs    text[],
      valid_lo     timestamptz NOT NULL DEFAULT '-infinity',
      valid_hi     timestamptz NOT NULL DEFAULT 'infinity'
    )`);
    await q.query(`CREATE INDEX consent_rule_patient ON consent_rule (patient_id, deny, depth)`);
    await q.query(`CREATE INDEX consent_rule_consent ON consent_rule (consent_rid)`);

    await q.query(`CREATE TABLE consent_policy (
      id          integer PRIMARY KEY CHECK (id = 1),
      opt_in      boolean     NOT NULL DEFAULT false,
      hide_denied boolean     NOT NULL DEFAULT false,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`INSERT INTO consent_policy (id) VALUES (1)`);

    // every organization that wrote a version of the resource sees it, whatever the consents say
    await q.query(`CREATE TABLE resource_owner (rid bigint NOT NULL, organization text NOT NULL, PRIMARY KEY (rid, organization))`);

    await q.query(`CREATE TABLE break_glass_session (
      id             uuid PRIMARY KEY,
      user_id        text        NOT NULL,
      fhir_user      text,
      organization   text,
      client_id      text,
      patient_id     text        NOT NULL,
      purpose        text        NOT NULL,
      reason         text        NOT NULL,
      started_at     timestamptz NOT NULL DEFAULT now(),
      expires_at     timestamptz NOT NULL,
      reviewed_at    timestamptz,
      reviewed_by    text,
      review_comment text
    )`);
    await q.query(`CREATE INDEX break_glass_session_user ON break_glass_session (user_id, expires_at)`);
    await q.query(`CREATE INDEX break_glass_session_pending ON break_glass_session (started_at) WHERE reviewed_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['break_glass_session', 'resource_owner', 'consent_policy', 'consent_rule']) await q.query(`DROP TABLE IF EXISTS ${t}`);
  }
}
