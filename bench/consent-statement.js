#!/usr/bin/env node
// Writes the page statement the search engine sends for a search under consent, as the hub sends it for a
// practitioner whose facts it kept (bound values, opt-out, no break-the-glass), with its values: FILE.sql and
// FILE.json, the input of bench/statement-cost.js. For comparing statements far below the noise of the whole hub
// (bench/RESULTS.md, "Consent (issue 6), 2026-12-08").
//
//   node bench/consent-statement.js --db postgres://hub:hub@localhost:PORT/hub --dir /work/benchdata/consent2000 \
//       --out /tmp/subject 'Observation?subject=Patient/ID' [--named ID] [--hub-dist bench/out/dist-x]
//   node bench/statement-cost.js --sql /tmp/subject.sql --values /tmp/subject.json --url ... --plan generic
//
// --dir: a bench/consent.js data directory (its bench-consent.json names the practitioner); --named: a patient the
// search names (the consent stage passes them for the `filtered` reason and the patients decided once).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { db: { type: 'string' }, dir: { type: 'string' }, out: { type: 'string' }, named: { type: 'string' }, 'hub-dist': { type: 'string', default: 'dist' } },
});
if (!opt.db || !opt.dir || !opt.out || positionals.length !== 1) {
  process.stderr.write('usage: node bench/consent-statement.js --db URL --dir DATA_DIR --out FILE "Type?query" [--named PATIENT] [--hub-dist DIR]\n');
  process.exit(2);
}
const dist = pathToFileURL(path.resolve(opt['hub-dist'])).href;
const { PgSearchEngine } = await import(`${dist}/fhir/search/pg-search-engine.js`);
const { SearchParamRegistry } = await import(`${dist}/fhir/search/params/search-param-registry.js`);
const { parseQueryString } = await import(`${dist}/fhir/pipeline/request-parser.js`);
const { practitioner } = JSON.parse(fs.readFileSync(path.join(opt.dir, 'bench-consent.json'), 'utf8'));
const pool = new pg.Pool({ connectionString: opt.db, max: 2 });
const engine = new PgSearchEngine(new SearchParamRegistry().warmUp());
const facts = {
  base: 'opt-out', organizations: [], actors: [practitioner], purposes: [], actions: ['access', 'use', 'disclose'], breakGlassPatients: [],
  validated: { patients: opt.named ? [opt.named] : [] },
};
const [where, query = ''] = positionals[0].split('?');
const parts = where.split('/').filter(Boolean);
const request = { params: parseQueryString(query), strict: true, baseUrl: 'http://x/fhir', restriction: { consent: facts } };
if (parts.length === 3) Object.assign(request, { compartment: { type: parts[0], id: parts[1] }, resourceType: parts[2] });
else request.resourceType = parts[0];
let page;
const recorder = {
  query: (config, values) => {
    const s = typeof config === 'string' ? { text: config, values } : config;
    if (s.name?.startsWith('fs_')) page = s; // the engine's own statements (estimates are not named)
    return pool.query({ text: s.text, values: s.values });
  },
};
await engine.search(recorder, request);
fs.writeFileSync(`${opt.out}.sql`, page.text);
fs.writeFileSync(`${opt.out}.json`, JSON.stringify({ values: page.values }));
console.log(`${opt.out}.sql: ${page.text.length} characters, ${page.generic ? 'planned once (generic)' : "PostgreSQL's choice of plan"}`);
await pool.end();
