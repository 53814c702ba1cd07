#!/usr/bin/env node
// HIE hub GraphQL benchmark (issue 8): one query, a patient with its 50 latest Observations and their performers,
// sent again and again; reports latency percentiles, then the SQL statements per query for each patient (asked with
// the header `x-hub-count-sql: 1`, answered in `extensions.sqlStatements` outside NODE_ENV=production; counting is
// off while latency is measured), which must not depend on the number of results.
//
//   npm run build && node bench/graphql.js                        fresh hub, small generated data
//   node bench/graphql.js --reuse DIR                              the hub on an existing DATA_DIR (e.g. the 1M database of bench/search.js)
//   node bench/graphql.js --url http://host:8080 [--token T]       a running hub
//   node bench/graphql.js --help
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, log, percentile, rssKb, startHub, stopHub } from './hub-process.js';

const HELP = `node bench/graphql.js [options]
  --url BASE        a running hub (http://host:port); otherwise the built hub is started
  --reuse DIR       start the hub on this DATA_DIR (kept); patients are looked up, not generated
  --hub FILE        default dist/main.js
  --token T         bearer token (or HUB_TOKEN)
  --patients N      patients to generate on a fresh hub / to query in turn (default 5)
  --observations N  Observations per generated patient (default 60; the i-th patient gets N - 10*i, at least 1)
  --requests N      measured queries (default 200), after --warmup N (default 20)
  --concurrency N   queries in flight (default 1)
  --json FILE       write the summary as JSON`;

const QUERY = `query Latest($id: SearchValue) {
  Patient(id: $id) {
    id
    name { family given }
    ObservationList(_reference: patient, _sort: "-date", _count: 50) {
      id
      status
      code { text coding { system code } }
      effectiveDateTime
      valueQuantity { value unit }
      performer { reference resource(optional: true) { ... on Practitioner { id name { family } } ... on Organization { id orgName: name } } }
    }
  }
}`;

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      reuse: { type: 'string' },
      hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
      token: { type: 'string', default: process.env.HUB_TOKEN },
      patients: { type: 'string', default: '5' },
      observations: { type: 'string', default: '60' },
      requests: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '1' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return console.log(HELP);
  const opts = Object.fromEntries(['patients', 'observations', 'requests', 'warmup', 'concurrency'].map((k) => [k, Number(values[k])]));
  let hub;
  let base = values.url?.replace(/\/$/, '');
  try {
    if (!base) {
      if (!fs.existsSync(values.hub)) throw new Error(`${values.hub} does not exist: run "npm run build" first`);
      hub = await startHub({ hub: values.hub, dir: values.reuse ? path.resolve(values.reuse) : undefined, prefix: 'hub-bench-graphql-', logLevel: 'warn' });
      base = hub.base;
      log(`hub ${hub.pid} on ${base} (started in ${hub.startupS} s)`);
    }
    const client = new Client(`${base}/fhir`, values.token ?? hub?.auth?.authorization?.replace(/^Bearer /, ''));
    const patients = values.url || values.reuse ? await findPatients(client, opts.patients) : await generate(client, opts.patients, opts.observations);
    log(`patients: ${patients.map((p) => `${p.id} (${p.observations} obs)`).join(', ')}`);

    const t0 = performance.now();
    const first = await client.graphql(QUERY, { id: patients[0].id });
    log(`first query (builds the schema): ${Math.round(performance.now() - t0)} ms`);
    if (first.body.errors) throw new Error(`query failed: ${JSON.stringify(first.body.errors).slice(0, 500)}`);
    for (let i = 0; i < opts.warmup; i++) await client.graphql(QUERY, { id: patients[i % patients.length].id });

    const samples = [];
    let next = 0;
    const worker = async () => {
      while (next < opts.requests) {
        const i = next++;
        const p = patients[i % patients.length];
        const s = performance.now();
        const res = await client.graphql(QUERY, { id: p.id });
        const ms = performance.now() - s;
        if (res.status !== 200 || res.body.errors) throw new Error(`query ${i}: ${res.status} ${JSON.stringify(res.body.errors ?? res.body).slice(0, 300)}`);
        const obs = res.body.data.Patient.ObservationList;
        const performers = obs.reduce((n, o) => n + (o.performer ?? []).filter((x) => x.resource).length, 0);
        samples.push({ ms, observations: obs.length, performers, patient: p.id });
      }
    };
    const t1 = performance.now();
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    const wall = (performance.now() - t1) / 1000;

    const ms = samples.map((s) => s.ms);
    // statements per query, counted once per patient (different result sizes)
    const byResults = new Map();
    for (const p of patients) {
      const res = await client.graphql(QUERY, { id: p.id }, { 'x-hub-count-sql': '1' });
      const obs = res.body.data.Patient.ObservationList;
      const performers = obs.reduce((n, o) => n + (o.performer ?? []).filter((x) => x.resource).length, 0);
      byResults.set(`${obs.length} obs / ${performers} performers`, res.body.extensions?.sqlStatements);
    }
    const statements = [...new Set(byResults.values())];
    const summary = {
      requests: samples.length,
      concurrency: opts.concurrency,
      throughput: Math.round((samples.length / wall) * 10) / 10,
      latencyMs: { p50: r(percentile(ms, 50)), p95: r(percentile(ms, 95)), p99: r(percentile(ms, 99)), max: r(Math.max(...ms)) },
      sqlStatementsPerQuery: statements.length === 1 ? statements[0] : statements,
      statementsByResultSize: Object.fromEntries(byResults),
      hubRssMb: hub ? Math.round((rssKb(hub.pid) ?? 0) / 1024) : undefined,
    };
    console.log(JSON.stringify(summary, null, 2));
    if (values.json) fs.writeFileSync(values.json, JSON.stringify(summary, null, 2));
    if (statements.length !== 1) log('WARNING: the statement count varies between queries');
  } finally {
    await stopHub(hub);
  }
}

const r = (x) => Math.round(x * 10) / 10;

class Client {
  constructor(fhirBase, token) {
    this.fhirBase = fhirBase;
    this.headers = token ? { authorization: `Bearer ${token}` } : {};
  }

  async fhir(method, path, body) {
    const res = await fetch(`${this.fhirBase}/${path}`, {
      method,
      headers: { accept: 'application/fhir+json', ...(body ? { 'content-type': 'application/fhir+json' } : {}), ...this.headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
    return json;
  }

  async graphql(query, variables, extraHeaders = {}) {
    const res = await fetch(`${this.fhirBase}/$graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...this.headers, ...extraHeaders },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json() };
  }
}

/** Fresh hub: `count` patients with `perPatient` Observations each, performers spread over 20 Practitioners. */
async function generate(client, count, perPatient) {
  const practitioners = [];
  for (let i = 0; i < 20; i++) practitioners.push((await client.fhir('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: `Bench${i}` }] })).id);
  const patients = [];
  for (let p = 0; p < count; p++) {
    const patient = await client.fhir('POST', 'Patient', { resourceType: 'Patient', name: [{ family: `GraphqlBench${p}`, given: ['Pat'] }] });
    const entry = [];
    const n = Math.max(1, perPatient - 10 * p); // different result sizes, for the statement counts
    for (let i = 0; i < n; i++) {
      const day = new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString();
      entry.push({
        request: { method: 'POST', url: 'Observation' },
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate' },
          subject: { reference: `Patient/${patient.id}` },
          effectiveDateTime: day,
          valueQuantity: { value: 60 + (i % 40), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
          performer: [{ reference: `Practitioner/${practitioners[(p + i) % practitioners.length]}` }],
        },
      });
    }
    await client.fhir('POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
    patients.push({ id: patient.id, observations: n });
  }
  return patients;
}

/** Existing database: the patients (among the first 200) with the most Observations. */
async function findPatients(client, count) {
  const bundle = await client.fhir('GET', 'Patient?_count=200&_elements=id');
  const candidates = [];
  for (const e of bundle.entry ?? []) {
    const n = (await client.fhir('GET', `Observation?patient=Patient/${e.resource.id}&_summary=count`)).total ?? 0;
    candidates.push({ id: e.resource.id, observations: n });
  }
  return candidates.sort((a, b) => b.observations - a.observations).slice(0, count);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
