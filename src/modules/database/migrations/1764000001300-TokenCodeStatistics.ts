import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Extended statistics on `sp_token (pid, code)`: a most-common-values list of the *pairs*, up to 300 of them.
 *
 * The problem: a code belongs to the parameter it is indexed under. PostgreSQL without this assumes the two columns
 * are independent and multiplies their frequencies. At 1M resources, `Condition?code=444814009` has 4,582 token
 * rows and was estimated at 77. A custom plan then collected and sorted every match before cutting the page,
 * instead of walking the resources in rid order until the page was full: a page of 20 took 135 ms instead of 9.5 ms
 * (`EXPLAIN ANALYZE`, bench/RESULTS.md).
 *
 * With the pairs' MCV list the estimate is the pair's own frequency (6,194 for that code).
 *
 * Why MCV only: `dependencies` was tried before and reverted. It also applies to a generic plan's
 * `code = $1`, whose estimate it raised from 1 to ~34 rows at 1M, so PostgreSQL stopped reusing the generic plan of
 * every token search (`Patient?identifier` 2,837 → 1,618 req/s). An MCV list applies only to known values: the
 * generic estimate stays at 1 row (checked with `EXPLAIN (GENERIC_PLAN)` at 1M).
 *
 * Why 300: the default 100 pairs covered only the most frequent ones at 1M (statuses, categories); the Condition
 * codes above were not among them.
 *
 * The cost: nothing at write time (extended statistics are only computed by ANALYZE). ANALYZE of `sp_token` at 1M
 * takes 0.65 s instead of 0.3–0.4 s, because it samples 90,000 rows instead of 30,000. A few kB are kept in
 * `pg_statistic_ext_data`.
 */
export class TokenCodeStatistics1764000001300 implements MigrationInterface {
  name = 'TokenCodeStatistics1764000001300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE STATISTICS IF NOT EXISTS sp_token_pid_code (mcv) ON pid, code FROM sp_token`);
    await q.query(`ALTER STATISTICS sp_token_pid_code SET STATISTICS 300`);
    await q.query(`ANALYZE sp_token`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP STATISTICS IF EXISTS sp_token_pid_code`);
  }
}
