import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The two range indexes of `sp_date` carry the resource's rid right after the bound they are ordered by:
 * (pid, lo, rid, hi) and (pid, hi, rid, lo). A page sorted by a date (`_sort=date` / `-date`) is read in this
 * order, ties broken by rid, and its keyset cursor `(bound, rid)` becomes an index condition, so a page starts
 * exactly where the previous one ended. With (pid, hi, lo) the scan had to step over every row tied with the
 * cursor's date and look each one up (1,281 rows, 6,526 buffers for page 20 of `Observation?_sort=-date` at 1M;
 * 418 buffers now). Range searches keep the other bound as a key column, checked in the index.
 */
export class DateSortIndexes1764000001000 implements MigrationInterface {
  name = 'DateSortIndexes1764000001000';

  async up(q: QueryRunner): Promise<void> {
    await this.replace(q, 'sp_date_lo', '(pid, lo, rid, hi)');
    await this.replace(q, 'sp_date_hi', '(pid, hi, rid, lo)');
  }

  async down(q: QueryRunner): Promise<void> {
    await this.replace(q, 'sp_date_lo', '(pid, lo, hi)');
    await this.replace(q, 'sp_date_hi', '(pid, hi, lo)');
  }

  private async replace(q: QueryRunner, name: string, columns: string): Promise<void> {
    await q.query(`CREATE INDEX ${name}_new ON sp_date ${columns}`);
    await q.query(`DROP INDEX ${name}`);
    await q.query(`ALTER INDEX ${name}_new RENAME TO ${name}`);
  }
}
