import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Versioned resources. `resource` is the current-version pointer (one row per logical resource, with the
 * internal `rid` that search index rows refer to); `resource_version` holds every version's JSON once.
 */
export class ResourceStore1764000000000 implements MigrationInterface {
  name = 'ResourceStore1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE resource (
        rid           bigserial PRIMARY KEY,
        resource_type text        NOT NULL,
        id            text        NOT NULL,
        version_id    integer     NOT NULL,
        last_updated  timestamptz NOT NULL,
        deleted       boolean     NOT NULL DEFAULT false,
        CONSTRAINT resource_type_id UNIQUE (resource_type, id)
      )`);
    await q.query(`CREATE INDEX resource_type_last_updated ON resource (resource_type, last_updated)`);
    await q.query(`
      CREATE TABLE resource_version (
        seq           bigserial   NOT NULL,
        rid           bigint      NOT NULL REFERENCES resource (rid),
        resource_type text        NOT NULL,
        id            text        NOT NULL,
        version_id    integer     NOT NULL,
        last_updated  timestamptz NOT NULL,
        method        text        NOT NULL,
        deleted       boolean     NOT NULL DEFAULT false,
        content       jsonb,
        PRIMARY KEY (rid, version_id)
      )`);
    await q.query(`CREATE UNIQUE INDEX resource_version_seq ON resource_version (seq)`);
    await q.query(`CREATE INDEX resource_version_type_seq ON resource_version (resource_type, seq)`);
    await q.query(`CREATE INDEX resource_version_last_updated ON resource_version (last_updated)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE resource_version');
    await q.query('DROP TABLE resource');
  }
}
