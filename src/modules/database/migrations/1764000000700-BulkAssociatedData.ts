import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `$export?includeAssociatedData=...Provenance...`: the Provenance resources associated with what a job exported,
 * gathered while it runs (in each batch's checkpoint transaction, so a restart neither loses nor doubles them) and
 * written after its types; `exported` marks those the job already wrote as a type of their own.
 */
export class BulkAssociatedData1764000000700 implements MigrationInterface {
  name = 'BulkAssociatedData1764000000700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bulk_job_associated (
        job_id   uuid    NOT NULL REFERENCES bulk_job (id) ON DELETE CASCADE,
        rid      bigint  NOT NULL,
        exported boolean NOT NULL DEFAULT false,
        PRIMARY KEY (job_id, rid)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE bulk_job_associated');
  }
}
