#!/usr/bin/env node
// MPI accuracy benchmark: loads each FEBRL deduplication data set (../shared/data/febrl) as FHIR Patients through the
// REST API of a hub it starts (fresh embedded PostgreSQL per data set), then scores the resulting MATCH links — the
// source Patients each golden record links to — against the ground truth: precision, recall, F1 over record pairs,
// and blocking recall (true pairs sharing at least one blocking key of the rules in force).
//
//   npm run build && node bench/mpi/accuracy.js            (defaults of src/mpi/mpi-rules.json)
//   node bench/mpi/accuracy.js --estimated                 (also: `mpi estimate` on the loaded data, relink, score again)
//   node bench/mpi/accuracy.js --datasets 1 --write -
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, ROOT, log, readProc, sleep, startHub, stopHub } from '../hub-process.js';
import { clusterPairs, prf, readDataset, toPatient, truePairs } from './febrl.js';
import { writeSection } from './report.js';

const { values: opt } = parseArgs({
  options: {
    datasets: { type: 'string', default: '1,2,3' },
    concurrency: { type: 'string', default: '8' },
    estimated: { type: 'boolean', default: false },
    hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
    write: { type: 'string', default: path.join(BENCH_DIR, 'MPI-RESULTS.md') },
  },
});

const { loadRules } = await import(path.join(ROOT, 'dist/mpi/matching-rules.js'));
const { extractFeatures } = await import(path.join(ROOT, 'dist/mpi/patient-features.js'));
const { blockingKeys } = await import(path.join(ROOT, 'dist/mpi/blocking-keys.js'));

/** the bench client's bearer token header (authorization is on, as in production), once a hub runs */
let auth = {};

async function fhir(base, method, url, body) {
  const res = await fetch(`${base}/fhir/${url}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...auth },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url} → ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/** POSTs every record (in file order, `concurrency` at a time, as registration systems would) → server ids. */
async function load(base, records) {
  const ids = new Array(records.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < records.length; i = next++) ids[i] = (await fhir(base, 'POST', 'Patient', toPatient(records[i].row))).id;
  };
  await Promise.all(Array.from({ length: Number(opt.concurrency) }, worker));
  return ids;
}

/** Golden records and the sources they link to (Patient.link seealso) → cluster label per record index. */
async function clusters(base, ids) {
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const labels = new Array(ids.length);
  let url = `Patient?_tag=${encodeURIComponent('http://hie-hub.dev/mpi|golden')}&active=true&_count=1000`;
  let goldens = 0;
  while (url) {
    const page = await fhir(base, 'GET', url);
    for (const e of page.entry ?? []) {
      goldens++;
      for (const l of e.resource.link ?? []) if (l.type === 'seealso') labels[indexOf.get(l.other.reference.slice('Patient/'.length))] = e.resource.id;
    }
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    url = next ? next.slice(next.indexOf('/fhir/') + '/fhir/'.length) : undefined;
  }
  return { labels, goldens };
}

async function relink(base) {
  const kick = await fetch(`${base}/fhir/$mpi-relink`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', ...auth }, body: '{"resourceType":"Parameters"}' });
  const statusUrl = kick.headers.get('content-location');
  for (;;) {
    const s = await (await fetch(statusUrl, { headers: auth })).json();
    const status = s.parameter.find((p) => p.name === 'status').valueCode;
    if (status === 'done') return;
    if (status === 'failed') throw new Error(`relink failed: ${JSON.stringify(s)}`);
    await sleep(500);
  }
}

function blockingRecall(rules, records, truth) {
  const keys = records.map((r) => new Set(blockingKeys(rules, extractFeatures(rules, toPatient(r.row))).map((k) => `${k.kind}:${k.value}`)));
  let blocked = 0;
  for (const p of truth) {
    const [a, b] = p.split(',').map(Number);
    for (const k of keys[a]) if (keys[b].has(k)) {
      blocked++;
      break;
    }
  }
  return blocked / truth.size;
}

const rows = [];
for (const n of opt.datasets.split(',').map(Number)) {
  const records = readDataset(n);
  const truth = truePairs(records);
  const hub = await startHub({ hub: opt.hub, prefix: `hub-mpi-${n}-`, logLevel: 'warn' });
  auth = hub.auth ?? {};
  try {
    const t0 = performance.now();
    const ids = await load(hub.base, records);
    const loadS = (performance.now() - t0) / 1000;
    const score = async (config) => {
      const { labels, goldens } = await clusters(hub.base, ids);
      const r = prf(truth, clusterPairs(labels));
      const row = { dataset: n, config, records: records.length, truePairs: truth.size, goldens, ...r, blockingRecall: blockingRecall(loadRules(), records, truth), loadS, rate: records.length / loadS };
      rows.push(row);
      log(`data set ${n} (${config}): P ${r.precision.toFixed(4)} R ${r.recall.toFixed(4)} F1 ${r.f1.toFixed(4)} (tp ${r.tp} fp ${r.fp} fn ${r.fn}), ${goldens} golden records, loaded in ${loadS.toFixed(1)} s`);
    };
    await score('defaults');
    if (opt.estimated) {
      execFileSync(process.execPath, [path.join(ROOT, 'dist/cli/hub-cli.js'), 'mpi', 'estimate'], { env: { ...process.env, DATA_DIR: hub.dir, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
      await relink(hub.base);
      await score('estimated + relink');
    }
  } finally {
    await stopHub(hub);
  }
}

const f4 = (x) => x.toFixed(4);
const cpu = (readProc('/proc/cpuinfo') ?? '').match(/model name\s*:\s*(.+)/)?.[1] ?? os.cpus()[0]?.model;
const L = [];
L.push('## Accuracy on the FEBRL deduplication data sets', '');
L.push(`- date: ${new Date().toISOString()}; commit ${(() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch { return '?'; } })()}`);
L.push(`- machine: ${cpu}, ${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB, Node ${process.version}; embedded PostgreSQL, hub heap capped at 256 MB`);
L.push('- each data set is loaded into a fresh hub through `POST /fhir/Patient` (file order, 8 at a time); a pair is predicted when both records are MATCH-linked to the same golden record');
L.push('- one configuration for all data sets (`src/mpi/mpi-rules.json`); "estimated + relink" = `npm run hub -- mpi estimate` (unsupervised EM on the loaded records) then `$mpi-relink`');
L.push('- targets: F1 ≥ 0.995 with precision ≥ 0.999 on data sets 1–3', '');
L.push('| data set | configuration | records | true pairs | golden records | precision | recall | F1 | blocking recall | tp / fp / fn | load (records/s) |');
L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) L.push(`| ${r.dataset} | ${r.config} | ${r.records} | ${r.truePairs} | ${r.goldens} | ${f4(r.precision)} | ${f4(r.recall)} | **${f4(r.f1)}** | ${f4(r.blockingRecall)} | ${r.tp} / ${r.fp} / ${r.fn} | ${r.rate.toFixed(0)} |`);
const report = L.join('\n') + '\n';
process.stdout.write('\n' + report);
if (opt.write !== '-') writeSection(opt.write, 'accuracy', report);
