#!/usr/bin/env node
// Prints the SQL statements the search engine issues for a FHIR search and PostgreSQL's plan for each
// (EXPLAIN ANALYZE, BUFFERS), run against an existing hub database:
//   node bench/explain.js --db postgres://hub:hub@localhost:PORT/hub 'Observation?patient=123&code=...'
// Uses the built engine (dist/), so `npm run build` first. Read-only: every statement runs in a rolled-back transaction.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PgSearchEngine } from '../dist/fhir/search/pg-search-engine.js';
import { SearchParamRegistry } from '../dist/fhir/search/params/search-param-registry.js';
import { parseQueryString } from '../dist/fhir/pipeline/request-parser.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { db: { type: 'string' }, plain: { type: 'boolean' }, plan: { type: 'string' } } });
if (!values.db || !positionals.length) {
  process.stderr.write('usage: node bench/explain.js --db <postgres url> [--plain] [--plan walk|gather] "<Type>?<query>" ...\n');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: values.db, max: 2 });
const registry = new SearchParamRegistry().warmUp();
const engine = new PgSearchEngine(registry, { plan: values.plan });
for (const search of positionals) {
  const [path, query = ''] = search.split('?');
  const parts = path.split('/').filter(Boolean);
  const request = { params: parseQueryString(query), strict: true, baseUrl: 'http://x/fhir', principal: { kind: 'system', scopes: [] } };
  if (parts.length === 3) Object.assign(request, { compartment: { type: parts[0], id: parts[1] }, resourceType: parts[2] });
  else if (parts.length === 1) request.resourceType = parts[0];
  const statements = [];
  const recorder = {
    query: (text, vals) => {
      const s = typeof text === 'string' ? { text, vals } : { text: text.text, vals: text.values };
      statements.push(s);
      return pool.query(s.text, s.vals);
    },
  };
  const t0 = performance.now();
  const bundle = await engine.search(recorder, request);
  const ms = performance.now() - t0;
  console.log(`\n=== ${search}\n${bundle.entry?.length ?? 0} entries, total ${bundle.total ?? '-'}, ${ms.toFixed(1)} ms end to end`);
  for (const s of statements) {
    console.log(`\n--- SQL\n${s.text}\n--- values ${JSON.stringify(s.vals).slice(0, 400)}`);
    if (values.plain || s.text.startsWith("EXPLAIN")) continue; // the engine's own estimates (_has)
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.vals);
      console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
    } finally {
      await c.query('ROLLBACK');
      c.release();
    }
  }
}
await pool.end();
