import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Resource versions are stored as `json` (the text the hub wrote, compact) instead of `jsonb`. Every read sends the
 * stored text as it is, and PostgreSQL spent ~6.6 ns per byte rebuilding text from jsonb for each resource of a
 * response (measured at 1M resources: ~0.5 ms of the 2.2 ms a 40-resource `_include` search cost it), plus a jsonb
 * parse on every write. Nothing queries inside the documents on the hot paths (search uses the index tables); the
 * few lookups by a field (`->>`) work on json too. Existing databases are rewritten once (about a minute per
 * million resources).
 */
export class ResourceContentJson1764000000900 implements MigrationInterface {
  name = 'ResourceContentJson1764000000900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE resource_version ALTER COLUMN content TYPE json USING content::json`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE resource_version ALTER COLUMN content TYPE jsonb USING content::jsonb`);
  }
}
