#!/usr/bin/env node
// Consent cost on search throughput: the same searches (and reads by id) by the same practitioner (a user token, so
// consent governs it) against the same database, with consent enforcement on and off (HUB_CONSENT=off), side by side
// in one run.
// The hub is restarted on the same DATA_DIR between phases (on, off, on, off, ... --rounds times).
//
//   npm run build && node bench/consent.js --patients 200
//   node bench/consent.js --help
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

import { pathToFileURL } from 'node:url';
import { BENCH_DIR, ROOT, log, percentile, readProc, sleep, startHub, stopHub } from './hub-process.js';

const HELP = `usage: node bench/consent.js [options]
  --patients N        patients to generate (default 2000); each has --per observations and 2 conditions
  --per N             observations per patient (default 20)
  --consented F       share of patients with a Consent (default 0.3): a root permit with nested denies
  --connections N     autocannon connections (default 8)
  --duration S        measured seconds per query and phase (default 10)
  --rounds N          on/off pairs (default 2)
  --hub FILE          default dist/main.js
  --dir DIR           DATA_DIR to use and keep (generated once, reused when it has data)
  --only RE           only the searches whose name matches this regular expression
  --profile DIR       CPU-profile the hub during each measured search (bench/profiler-preload.js; slower, not for the table)
`;

const { values: opt } = parseArgs({
  options: {
    patients: { type: 'string', default: '2000' },
    per: { type: 'string', default: '20' },
    consented: { type: 'string', default: '0.3' },
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
    dir: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const CLIENT = 'bench-bootstrap';
const SECRET = 'bench-bootstrap-secret-0123456789';
const REDIRECT = 'http://127.0.0.1:9/callback';

async function json(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, res };
}

async function systemToken(base) {
  // the authorization server answers 503 for a moment after the FHIR door listens
  for (let i = 0; i < 100; i++) {
    const r = await tokenOnce(base);
    if (r.status !== 503) return check(r);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('the authorization server did not start');
}

function check(r) {
  if (r.status !== 200) throw new Error(`system token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token;
}

async function tokenOnce(base) {
  return json(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT}:${SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.*' }),
  });
}

/** Authorization code + PKCE for one user, driving the login and approval pages with a small cookie jar. */
async function userToken(base, sys, fhirUser) {
  const admin = (p, body) => json(`${base}/auth/admin/${p}`, { method: 'POST', headers: { authorization: `Bearer ${sys}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const user = { username: `bench-${crypto.randomUUID().slice(0, 8)}`, password: 'correct horse battery' };
  if ((await admin('users', { ...user, fhirUser })).status !== 201) throw new Error('create user');
  const app = await admin('clients', { type: 'public', redirectUris: [REDIRECT], scope: 'openid fhirUser user/*.rs', name: 'bench' });
  const cookies = new Map();
  const go = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(new URL(url, base), { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return res;
  };
  const follow = async (res) => {
    let url = '';
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      // the hub names itself localhost (its default public URL); we talk to 127.0.0.1
      url = new URL(res.headers.get('location'), base).href.replace(/^http:\/\/localhost:/, 'http://127.0.0.1:');
      if (!url.startsWith(base)) break;
      res = await go(url);
    }
    return url;
  };
  const post = (url, form) => go(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({ response_type: 'code', client_id: app.body.client_id, redirect_uri: REDIRECT, scope: 'openid fhirUser user/*.rs', state: 's', aud: `${base.replace('127.0.0.1', 'localhost')}/fhir`, code_challenge: challenge, code_challenge_method: 'S256' });
  let url = await follow(await go(`${base}/auth/auth?${q}`));
  let uid = /\/auth\/interaction\/([\w-]+)/.exec(url)[1];
  url = await follow(await post(`/auth/interaction/${uid}/login`, user));
  uid = /\/auth\/interaction\/([\w-]+)/.exec(url)?.[1];
  if (uid) url = await follow(await post(`/auth/interaction/${uid}/confirm`, {}));
  const code = new URL(url).searchParams.get('code');
  const t = await json(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: app.body.client_id, code_verifier: verifier }),
  });
  if (t.status !== 200) throw new Error(`user token: ${t.status} ${JSON.stringify(t.body)}`);
  return t.body.access_token;
}

const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/** Patients with observations and conditions (one of them sensitive); a share of them with a Consent. */
async function generate(base, sys, practitioner, rand) {
  const patients = Number(opt.patients);
  const per = Number(opt.per);
  const ids = [];
  const post = async (bundle) => {
    const r = await json(`${base}/fhir`, { method: 'POST', headers: { authorization: `Bearer ${sys}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(bundle) });
    if (r.status !== 200) throw new Error(`ingest: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  };
  const batch = [];
  for (let p = 0; p < patients; p++) {
    const pid = crypto.randomUUID();
    ids.push(pid);
    const entry = [{ fullUrl: `urn:uuid:${pid}`, resource: { resourceType: 'Patient', id: pid, name: [{ family: `Bench${p % 97}`, given: ['P'] }], birthDate: '1970-01-01' }, request: { method: 'PUT', url: `Patient/${pid}` } }];
    for (let i = 0; i < per; i++) {
      entry.push({ resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: i % 2 ? '8867-4' : '8310-5' }] }, subject: { reference: `Patient/${pid}` }, effectiveDateTime: `20${10 + (i % 15)}-01-01T00:00:00Z` }, request: { method: 'POST', url: 'Observation' } });
    }
    entry.push({ resource: { resourceType: 'Condition', subject: { reference: `Patient/${pid}` }, code: { coding: [{ system: 'http://snomed.info/sct', code: '370143000' }] } }, request: { method: 'POST', url: 'Condition' } });
    entry.push({ resource: { resourceType: 'Condition', subject: { reference: `Patient/${pid}` }, code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] } }, request: { method: 'POST', url: 'Condition' } });
    if (rand() < Number(opt.consented)) {
      entry.push({
        resource: {
          resourceType: 'Consent', status: 'active', patient: { reference: `Patient/${pid}` },
          scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
          category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
          policyRule: { coding: [{ system: ACT, code: 'OPTIN' }] },
          provision: { type: 'permit', provision: [
            { type: 'deny', securityLabel: [{ system: ACT, code: 'PSY' }] },
            { type: 'deny', actor: [{ role: { coding: [{ code: 'IRCP' }] }, reference: { reference: rand() < 0.5 ? practitioner : 'Practitioner/someone-else' } }], dataPeriod: { end: '2015-01-01' } },
          ] },
        },
        request: { method: 'POST', url: 'Consent' },
      });
    }
    batch.push(...entry);
    if (batch.length > 400 || p === patients - 1) {
      await post({ resourceType: 'Bundle', type: 'transaction', entry: batch.splice(0) });
    }
  }
  return ids;
}

/** utime+stime (clock ticks) of a process and of all its descendants (the hub and its PostgreSQL backends). */
function cpuTicks(root) {
  const children = new Map();
  const ticks = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readProc(`/proc/${d}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    ticks.set(Number(d), Number(f[11]) + Number(f[12]));
    if (!children.has(Number(f[1]))) children.set(Number(f[1]), []);
    children.get(Number(f[1])).push(Number(d));
  }
  const per = new Map();
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    per.set(p, ticks.get(p) ?? 0);
    stack.push(...(children.get(p) ?? []));
  }
  return per;
}

/** CPU milliseconds the hub and its PostgreSQL used between two snapshots (backends that exited in between are lost). */
function cpuMs(a, b) {
  let t = 0;
  for (const [pid, v] of b) t += v - (a.get(pid) ?? 0);
  return t * 10; // USER_HZ = 100
}

async function measure(base, token, paths, hubPid) {
  let k = 0;
  const lat = [];
  const cfg = {
    url: base,
    connections: Number(opt.connections),
    duration: Number(opt.duration),
    headers: { accept: 'application/fhir+json', authorization: `Bearer ${token}` },
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[k++ % paths.length] }) }],
  };
  await new Promise((resolve, reject) => autocannon({ ...cfg, duration: 2 }, (e) => (e ? reject(e) : resolve())));
  const cpu0 = cpuTicks(hubPid);
  const res = await new Promise((resolve, reject) => {
    const inst = autocannon(cfg, (e, r) => (e ? reject(e) : resolve(r)));
    inst.on('response', (_c, _s, _b, ms) => lat.push(ms));
  });
  // CPU per request of the hub + PostgreSQL: much less sensitive to other load on the machine than req/s
  const cpu1 = cpuTicks(hubPid);
  const cpu = cpuMs(cpu0, cpu1) / res.requests.total;
  const hubCpu = ((cpu1.get(hubPid) - cpu0.get(hubPid)) * 10) / res.requests.total;
  return { rps: res.requests.total / res.duration, p50: percentile(lat, 50), p95: percentile(lat, 95), non2xx: res.non2xx, cpu, hubCpu };
}

async function main() {
  const dir = opt.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hub-bench-consent-'));
  const statePath = path.join(dir, 'bench-consent.json');
  const reuse = opt.dir && fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, 'utf8')) : undefined;
  const env = (on) => ({ HUB_CONSENT: on ? 'on' : 'off', HUB_BOOTSTRAP_CLIENT_ID: CLIENT, HUB_BOOTSTRAP_CLIENT_SECRET: SECRET, HUB_AUTH: 'on', ...(opt.profile ? { BENCH_PROFILE_DIR: path.resolve(opt.profile) } : {}) });
  const nodeArgs = opt.profile ? ['--import', pathToFileURL(path.join(BENCH_DIR, 'profiler-preload.js')).href] : [];
  if (opt.profile) fs.mkdirSync(opt.profile, { recursive: true });
  // bench/profiler-preload.js: the first SIGUSR2 starts a profile named by the label file, the second writes it
  const profile = async (hub, label) => {
    if (!opt.profile) return;
    const state = path.join(opt.profile, 'state');
    if (label) fs.writeFileSync(path.join(opt.profile, 'label'), label);
    const before = readProc(state);
    hub.child.kill('SIGUSR2');
    for (let i = 0; i < 100 && readProc(state) === before; i++) await sleep(50);
  };
  let hub = await startHub({ hub: opt.hub, dir, logLevel: 'warn', env: env(true), nodeArgs });
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  let sys = await systemToken(hub.base);
  let practitioner = reuse?.practitioner;
  let patients = reuse?.patients;
  if (!reuse) {
    const prac = await json(`${hub.base}/fhir/Practitioner`, { method: 'POST', headers: { authorization: `Bearer ${sys}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Practitioner', name: [{ family: 'Bench' }] }) });
    practitioner = `Practitioner/${prac.body.id}`;
    const t0 = Date.now();
    patients = await generate(hub.base, sys, practitioner, rand);
    log(`generated ${patients.length} patients in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (opt.dir) fs.writeFileSync(statePath, JSON.stringify({ practitioner, patients }));
  }
  const token = await userToken(hub.base, sys, practitioner);
  // reads by id: Observations dated after every dataPeriod of the generated denials, so that each read is allowed
  const page = await json(`${hub.base}/fhir/Observation?date=ge2016-01-01&_count=200&_elements=id`, { headers: { authorization: `Bearer ${sys}` } });
  const observations = (page.body.entry ?? []).map((e) => e.resource.id);
  const queries = {
    'Observation/x (read)': observations.map((id) => `/fhir/Observation/${id}`),
    'Observation?subject': patients.slice(0, 200).map((p) => `/fhir/Observation?subject=Patient/${p}`),
    'Observation?code (page of 50)': ['/fhir/Observation?code=8867-4&_count=50', '/fhir/Observation?code=8310-5&_count=50'],
    'Condition?code': ['/fhir/Condition?code=370143000&_count=20', '/fhir/Condition?code=44054006&_count=20'],
    'Patient/x/Condition (compartment)': patients.slice(0, 200).map((p) => `/fhir/Patient/${p}/Condition`),
    'Patient?name': ['/fhir/Patient?name=Bench1', '/fhir/Patient?name=Bench2'],
  };
  const results = {};
  for (let round = 0; round < Number(opt.rounds) * 2; round++) {
    const on = round % 2 === 0;
    if (round > 0) {
      await stopHub(hub);
      hub = await startHub({ hub: opt.hub, dir, logLevel: 'warn', env: env(on), nodeArgs });
    }
    for (const [key, paths] of Object.entries(queries)) {
      if (opt.only && !new RegExp(opt.only).test(key)) continue;
      await profile(hub, `${on ? 'on' : 'off'}-${round}-${key.replace(/\W+/g, '_')}`);
      const r = await measure(hub.base, token, paths, hub.pid);
      await profile(hub);
      const slot = (results[key] ??= { on: [], off: [] });
      slot[on ? 'on' : 'off'].push(r);
      log(`${on ? 'on ' : 'off'} ${key}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(1)} ms p95 ${r.p95.toFixed(1)} ms, ${r.cpu.toFixed(2)} CPU ms/req (hub ${r.hubCpu.toFixed(2)})${r.non2xx ? ` non-2xx ${r.non2xx}` : ''}`);
    }
  }
  hub.keep = !!opt.dir;
  await stopHub(hub);
  const avg = (xs, f) => xs.reduce((s, x) => s + f(x), 0) / xs.length;
  const median = (xs, f) => {
    const v = xs.map(f).sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const lines = [
    '| search | consent off (req/s) | consent on (req/s) | cost | p95 off / on (ms) | CPU ms/req off / on (hub + PostgreSQL) | CPU cost |',
    '|---|---:|---:|---:|---|---|---:|',
  ];
  for (const [key, { on, off }] of Object.entries(results)) {
    const a = median(off, (x) => x.rps);
    const b = median(on, (x) => x.rps);
    const ca = median(off, (x) => x.cpu);
    const cb = median(on, (x) => x.cpu);
    lines.push(`| ${key} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(((a - b) / a) * 100).toFixed(1)} % | ${avg(off, (x) => x.p95).toFixed(0)} / ${avg(on, (x) => x.p95).toFixed(0)} | ${ca.toFixed(2)} / ${cb.toFixed(2)} | ${(((cb - ca) / ca) * 100).toFixed(1)} % |`);
  }
  process.stdout.write(`\nConsent cost: ${patients.length} patients × ${opt.per} observations, ${opt.consented} with a Consent, ${opt.connections} connections, ${opt.rounds} rounds (medians)\n\n${lines.join('\n')}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
