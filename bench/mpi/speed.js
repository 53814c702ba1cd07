#!/usr/bin/env node
// MPI speed benchmark: loads --patients N synthetic Patients (10% of them second records of a person, with typos)
// through transaction Bundles into a hub it starts, then measures, one request at a time:
//   - Patient/$match latency (queries are perturbed copies of loaded persons)                target p95 < 25 ms
//   - what matching adds to a create: p95 of Patient creates minus p95 of Practitioner creates
//     carrying the same demographics (Practitioner is not matched)                            target < 10 ms
//
//   npm run build && node bench/mpi/speed.js --patients 100000
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BENCH_DIR, ROOT, log, percentile, readProc, rnd32, startHub, stopHub } from '../hub-process.js';
import { writeSection } from './report.js';

const { values: opt } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '500' },
    creates: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '4' },
    hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
    write: { type: 'string', default: path.join(BENCH_DIR, 'MPI-RESULTS.md') },
  },
});

const rnd = rnd32(7);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const GIVEN = 'james john robert michael william david richard joseph thomas charles mary patricia jennifer linda elizabeth barbara susan jessica sarah karen olivia emily chloe jack liam noah lachlan harrison mia ava grace ella zoe lucas oliver ethan isabella sophie ruby amelia charlotte henry leo oscar'.split(' ');
const SYL = 'ba be bi bo bu ca ce co da de di do fa fe ga ge go ha he hi ho ka ke ki ko la le li lo lu ma me mi mo na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi wa we wi ya yo za ze zo'.split(' ');
const surname = () => Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => pick(SYL)).join('') + pick(['n', 's', 'r', 'l', 'tt', 'ck', '']);
const typo = (s) => {
  if (s.length < 3) return s;
  const i = 1 + Math.floor(rnd() * (s.length - 2));
  return rnd() < 0.5 ? s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2) : s.slice(0, i) + s.slice(i + 1);
};
const pad = (n, w = 2) => String(n).padStart(w, '0');

function person(i) {
  return {
    given: pick(GIVEN),
    family: surname(),
    birthDate: `${1920 + Math.floor(rnd() * 100)}-${pad(1 + Math.floor(rnd() * 12))}-${pad(1 + Math.floor(rnd() * 28))}`,
    postcode: String(2000 + Math.floor(rnd() * 6000)),
    street: `${1 + Math.floor(rnd() * 200)} ${surname()} street`,
    mrn: `P${i}`,
  };
}

function resource(p, type = 'Patient', system = 'urn:bench:mrn') {
  const r = {
    resourceType: type,
    identifier: [{ system, value: p.mrn }],
    name: [{ family: p.family, given: [p.given] }],
    address: [{ line: [p.street], postalCode: p.postcode }],
  };
  if (type === 'Patient') r.birthDate = p.birthDate;
  return r;
}

function perturbed(p, k) {
  return { ...p, family: rnd() < 0.5 ? typo(p.family) : p.family, given: rnd() < 0.3 ? typo(p.given) : p.given, mrn: `${p.mrn}-${k}` };
}

/** the bench client's bearer token header, once the hub runs */
let auth = {};

/** 409 "concurrent update conflict" answers (two bundles linking look-alike patients at once), each retried */
let conflicts = 0;

async function post(base, url, body) {
  for (let attempt = 0; ; attempt++) {
    const t = performance.now();
    const res = await fetch(`${base}/fhir/${url}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', ...auth }, body: JSON.stringify(body) });
    const text = await res.text();
    if (res.status === 409 && attempt < 5) {
      conflicts++;
      continue;
    }
    if (res.status >= 300) throw new Error(`POST ${url} → ${res.status}: ${text.slice(0, 300)}`);
    return { ms: performance.now() - t, body: JSON.parse(text) };
  }
}

const N = Number(opt.patients);
const people = [];
const hub = await startHub({ hub: opt.hub, prefix: 'hub-mpi-speed-', logLevel: 'warn' });
auth = hub.auth ?? {};
try {
  const t0 = performance.now();
  let next = 0;
  const batches = Math.ceil(N / 100);
  const worker = async () => {
    for (let b = next++; b < batches; b = next++) {
      const entry = [];
      for (let i = b * 100; i < Math.min(N, (b + 1) * 100); i++) {
        const p = i % 10 === 9 && people.length ? perturbed(pick(people), i) : person(i);
        if (i % 10 !== 9) people.push(p);
        entry.push({ resource: resource(p), request: { method: 'POST', url: 'Patient' } });
      }
      await post(hub.base, '', { resourceType: 'Bundle', type: 'transaction', entry });
      if (b % 50 === 0) log(`loaded ${Math.min(N, (b + 1) * 100)} / ${N}`);
    }
  };
  await Promise.all(Array.from({ length: Number(opt.concurrency) }, worker));
  const loadS = (performance.now() - t0) / 1000;
  log(`loaded ${N} Patients in ${loadS.toFixed(0)} s (${conflicts} bundles answered 409 and were retried)`);

  const match = [];
  for (let q = 0; q < Number(opt.queries); q++) {
    const p = perturbed(pick(people), `q${q}`);
    match.push((await post(hub.base, 'Patient/$match', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: resource(p) }] })).ms);
  }
  const patientCreate = [];
  const practitionerCreate = [];
  for (let c = 0; c < Number(opt.creates); c++) {
    const p = rnd() < 0.3 ? perturbed(pick(people), `c${c}`) : person(`c${c}`);
    patientCreate.push((await post(hub.base, 'Patient', resource(p))).ms);
    practitionerCreate.push((await post(hub.base, 'Practitioner', resource(p, 'Practitioner'))).ms);
  }
  const q = (xs) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99) });
  const m = q(match);
  const pc = q(patientCreate);
  const xc = q(practitionerCreate);
  const f = (x) => x.toFixed(1);
  const cpu = (readProc('/proc/cpuinfo') ?? '').match(/model name\s*:\s*(.+)/)?.[1] ?? os.cpus()[0]?.model;
  const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch { return '?'; } })();
  const L = [
    '## Speed',
    '',
    `- date: ${new Date().toISOString()}; commit ${commit}; machine: ${cpu}, ${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB, Node ${process.version}; load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    `- ${N} synthetic Patients loaded through transaction Bundles of 100 (${opt.concurrency} at a time) in ${loadS.toFixed(0)} s (${(N / loadS).toFixed(0)} Patients/s, matched as they arrive)`,
    `- then one request at a time: ${opt.queries} \`Patient/$match\`, ${opt.creates} Patient creates interleaved with Practitioner creates of the same demographics`,
    '',
    '| measure | p50 ms | p95 ms | p99 ms | target |',
    '|---|---:|---:|---:|---|',
    `| Patient/$match | ${f(m.p50)} | ${f(m.p95)} | ${f(m.p99)} | p95 < 25 ms |`,
    `| Patient create (matched) | ${f(pc.p50)} | ${f(pc.p95)} | ${f(pc.p99)} | |`,
    `| Practitioner create (not matched) | ${f(xc.p50)} | ${f(xc.p95)} | ${f(xc.p99)} | |`,
    `| matching adds to a create | ${f(pc.p50 - xc.p50)} | ${f(pc.p95 - xc.p95)} | ${f(pc.p99 - xc.p99)} | p95 < 10 ms |`,
  ];
  const report = L.join('\n') + '\n';
  process.stdout.write('\n' + report);
  if (opt.write !== '-') writeSection(opt.write, 'speed', report);
} finally {
  await stopHub(hub);
}
