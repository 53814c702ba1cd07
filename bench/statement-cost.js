#!/usr/bin/env node
// What one SQL statement costs PostgreSQL per execution, as the hub runs it: a named (prepared) statement on one
// connection, executed N times with values from a JSON file; prints wall µs, the backend's CPU µs (from /proc) and
// this client's CPU µs per execution, and the rows returned. For comparing variants of a statement (the consent
// condition, bench/RESULTS.md) far below the noise of a whole-hub benchmark. Run it on the machine of the database.
//
//   node bench/statement-cost.js --sql page.sql --values values.json [--n 3000] [--plan generic|custom|auto]
//       [--url postgres://hub:hub@127.0.0.1:5432/hub]
//
// values.json: { "values": [v1, v2, ...], "cycle": { "1": ["a", "b", ...] } } — `values[i]` binds `$i+1`; a
// position in `cycle` takes the next of its list at each execution (e.g. patients), as `"@"` does inside an array
// value (`["@"]` → `[patient]`).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: opt } = parseArgs({
  options: {
    sql: { type: 'string' },
    values: { type: 'string' },
    n: { type: 'string', default: '3000' },
    plan: { type: 'string', default: 'auto' },
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://hub:hub@127.0.0.1:5432/hub' },
  },
});
if (!opt.sql || !opt.values) {
  process.stderr.write('usage: node bench/statement-cost.js --sql FILE --values FILE [--n 3000] [--plan generic|custom|auto] [--url URL]\n');
  process.exit(2);
}
const text = fs.readFileSync(opt.sql, 'utf8');
const spec = JSON.parse(fs.readFileSync(opt.values, 'utf8'));
const cycle = Object.entries(spec.cycle ?? {}).map(([k, list]) => [Number(k) - 1, list]);
const bind = (i) => {
  const values = [...spec.values];
  for (const [pos, list] of cycle) {
    const v = list[i % list.length];
    values[pos] = Array.isArray(values[pos]) ? values[pos].map((x) => (x === '@' ? v : x)) : v;
  }
  return values;
};

const client = new pg.Client({ connectionString: opt.url });
await client.connect();
if (opt.plan !== 'auto') await client.query(`SET plan_cache_mode = force_${opt.plan}_plan`);
const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
const ticks = () => {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const n = Number(opt.n);
const run = (i) => client.query({ name: 'statement_cost', text, values: bind(i) });
for (let i = 0; i < Math.min(300, n); i++) await run(i); // past the custom plans PostgreSQL tries first
const t0 = process.hrtime.bigint();
const c0 = ticks();
const u0 = process.cpuUsage();
let rows = 0;
for (let i = 0; i < n; i++) rows += (await run(i)).rowCount;
const wall = Number(process.hrtime.bigint() - t0) / 1e3 / n;
const backend = ((ticks() - c0) * 10_000) / n; // USER_HZ = 100: a tick is 10 ms
const u = process.cpuUsage(u0);
console.log(`${opt.sql}: ${wall.toFixed(0)} µs wall, PostgreSQL ${backend.toFixed(0)} µs CPU, client ${((u.user + u.system) / n).toFixed(0)} µs CPU per execution; ${(rows / n).toFixed(1)} rows (plan ${opt.plan})`);
await client.end();
