import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadSynthea } from './search-support.js';

/**
 * A token's code belongs to its parameter, so PostgreSQL must not take `sp_token.pid` and `sp_token.code` for
 * independent when it estimates a token search. Migration 1764000001300 gives it the pairs' most common values. A
 * misestimate made `Condition?code=x` collect and sort every match for a page of 20 (at 1M resources, 135 ms
 * instead of 9.5 ms). This checks the estimate itself, on the test hub's database.
 */
let pool: pg.Pool;

beforeAll(async () => {
  await loadSynthea(3, 20, 'token-statistics');
  const pid = fs.readFileSync(path.join(inject('dataDir'), 'pg', 'postmaster.pid'), 'utf8').split('\n');
  pool = new pg.Pool({ connectionString: `postgres://hub:hub@127.0.0.1:${pid[3].trim()}/hub`, max: 2 });
});

afterAll(async () => {
  await pool?.end();
});

/** PostgreSQL's estimate of the token rows of one parameter with one code. */
async function estimate(pidValue: number, code: string): Promise<number> {
  const res = await pool.query(`EXPLAIN (FORMAT JSON) SELECT rid FROM sp_token WHERE pid = ${pidValue} AND code = '${code.replace(/'/g, "''")}'`);
  return res.rows[0]['QUERY PLAN'][0].Plan['Plan Rows'];
}

describe('planner statistics of sp_token', () => {
  it('estimates a (parameter, code) pair by its own frequency, not as if code and parameter were independent', async () => {
    await pool.query('ANALYZE sp_token');
    const total = Number((await pool.query('SELECT count(*) AS n FROM sp_token')).rows[0].n);
    // the most frequent pairs whose code is also used under other parameters (e.g. a status shared by many types):
    // there, independence underestimates by the share of the pair's parameter
    const pairs = await pool.query(`
      WITH pairs AS (SELECT pid, code, count(*)::int AS n FROM sp_token WHERE code IS NOT NULL GROUP BY pid, code),
           pids AS (SELECT pid, count(*)::int AS n FROM sp_token GROUP BY pid)
      SELECT p.pid, p.code, p.n, (SELECT n FROM pids WHERE pids.pid = p.pid) AS pid_rows,
             (SELECT sum(n)::int FROM pairs q WHERE q.code = p.code) AS code_rows
      FROM pairs p ORDER BY p.n DESC LIMIT 5`);
    let checked = 0;
    for (const row of pairs.rows) {
      const independent = (row.pid_rows / total) * (row.code_rows / total) * total;
      if (independent > row.n / 3) continue; // not a pair that independence gets wrong
      const est = await estimate(row.pid, row.code);
      expect(est, `pid ${row.pid} code ${row.code}: ${row.n} rows, independence would say ${Math.round(independent)}`).toBeGreaterThan(row.n / 2);
      expect(est).toBeLessThan(row.n * 2);
      checked++;
    }
    expect(checked, 'no frequent pair that independence gets wrong: the test data changed').toBeGreaterThan(0);
  });

  it('keeps only the MCV kind: functional dependencies would also raise the generic plans’ estimates', async () => {
    const res = await pool.query(`SELECT stxkind::text[] AS kinds FROM pg_statistic_ext WHERE stxname = 'sp_token_pid_code'`);
    expect(res.rows.map((r) => r.kinds)).toEqual([['m']]);
  });
});
