import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hash-chained audit trail (src/audit). `audit_event` holds each AuditEvent once, as its canonical JSON text,
 * with the columns searches use (id, recorded, patients, agents, entities, request_id); the hash of a row covers the
 * event AND those columns (see src/audit/audit-record.ts), so neither can change unnoticed. `audit_chain_head` is the one-row lock every appender takes (FOR UPDATE) in its
 * committing transaction, which puts all records of all hub processes in one strict order. Triggers make both
 * evidence tables append-only (UPDATE/DELETE/TRUNCATE are rejected).
 */
export class AuditTrail1764000000200 implements MigrationInterface {
  name = 'AuditTrail1764000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_event (
        seq        bigint      PRIMARY KEY,
        prev_hash  bytea       NOT NULL,
        hash       bytea       NOT NULL,
        content    text        NOT NULL,
        id         text        NOT NULL,
        recorded   timestamptz NOT NULL,
        patients   text[]      NOT NULL,
        agents     text[]      NOT NULL,
        entities   text[]      NOT NULL,
        request_id text
      )`);
    await q.query(`CREATE UNIQUE INDEX audit_event_id ON audit_event (id)`);
    await q.query(`CREATE INDEX audit_event_recorded ON audit_event (recorded)`);
    await q.query(`CREATE INDEX audit_event_patients ON audit_event USING gin (patients)`);
    await q.query(`CREATE INDEX audit_event_agents ON audit_event USING gin (agents)`);
    await q.query(`CREATE INDEX audit_event_entities ON audit_event USING gin (entities)`);
    await q.query(`CREATE INDEX audit_event_request_id ON audit_event (request_id)`);

    await q.query(`
      CREATE TABLE audit_chain_head (
        one  boolean PRIMARY KEY DEFAULT true CHECK (one),
        seq  bigint NOT NULL,
        hash bytea  NOT NULL
      )`);
    // the genesis: seq 0, a hash of 32 zero bytes (the prev_hash of record 1)
    await q.query(`INSERT INTO audit_chain_head (one, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'))`);

    await q.query(`
      CREATE TABLE audit_checkpoint (
        n        bigserial PRIMARY KEY,
        seq      bigint      NOT NULL,
        hash     bytea       NOT NULL,
        signed   timestamptz NOT NULL,
        jws      text        NOT NULL
      )`);
    await q.query(`CREATE INDEX audit_checkpoint_seq ON audit_checkpoint (seq)`);

    await q.query(`
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const table of ['audit_event', 'audit_checkpoint']) {
      await q.query(`CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION audit_append_only()`);
      await q.query(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE audit_checkpoint');
    await q.query('DROP TABLE audit_chain_head');
    await q.query('DROP TABLE audit_event');
    await q.query('DROP FUNCTION audit_append_only()');
  }
}
