import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk Data jobs ($export, $import): one row per job that any hub process may claim (lease + heartbeat, FOR UPDATE
 * SKIP LOCKED), with the checkpoint it resumes from after a restart; one row per output file.
 * `resource (resource_type, rid)` lets an export walk one type in rid order without visiting the others.
 */
export class BulkJobs1764000000300 implements MigrationInterface {
  name = 'BulkJobs1764000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bulk_job (
        id               uuid        PRIMARY KEY,
        kind             text        NOT NULL,
        state            text        NOT NULL DEFAULT 'queued',
        request_url      text        NOT NULL,
        request          jsonb       NOT NULL,
        client_id        text,
        principal        jsonb       NOT NULL,
        transaction_time timestamptz NOT NULL,
        checkpoint       jsonb       NOT NULL DEFAULT '{}',
        processed        bigint      NOT NULL DEFAULT 0,
        error            text,
        locked_by        text,
        locked_until     timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        finished_at      timestamptz,
        expires_at       timestamptz
      )`);
    await q.query(`CREATE INDEX bulk_job_claimable ON bulk_job (created_at) WHERE state IN ('queued', 'running')`);
    await q.query(`CREATE INDEX bulk_job_expires ON bulk_job (expires_at) WHERE expires_at IS NOT NULL`);
    await q.query(`
      CREATE TABLE bulk_job_output (
        job_id        uuid    NOT NULL REFERENCES bulk_job (id) ON DELETE CASCADE,
        file_name     text    NOT NULL,
        kind          text    NOT NULL,
        ordinal       integer NOT NULL,
        resource_type text    NOT NULL,
        count         bigint  NOT NULL DEFAULT 0,
        bytes         bigint  NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, file_name)
      )`);
    await q.query(`CREATE INDEX IF NOT EXISTS resource_type_rid ON resource (resource_type, rid)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS resource_type_rid');
    await q.query('DROP TABLE bulk_job_output');
    await q.query('DROP TABLE bulk_job');
  }
}
