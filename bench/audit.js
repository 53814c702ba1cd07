#!/usr/bin/env node
// Audit trail benchmark (issue 5): read throughput with the audit on vs off, measured side by side in one run, and
// the speed of verifying the chain.
//
//   npm run build && node bench/audit.js                  # defaults below
//   node bench/audit.js --rounds 5 --duration 15          # longer
//   node bench/audit.js --verify-records 1000000          # a bigger chain to verify
//
// Two hubs are started on fresh temporary DATA_DIRs: one as usual, one with HUB_AUDIT=off (a switch that exists only
// for this measurement). Both get the same data (patients with observations, posted as transaction Bundles). Then,
// round after round, the same autocannon read-by-id load is run against the audit-off hub and then the audit-on hub
// (alternating, so drift of the shared machine hits both alike); medians are reported, with the ratio on/off
// (target ≥ 85 %). Then synthetic read records are appended to the audit-on hub's chain through the hub's own
// AuditChain (dist/), and `hub audit verify` walks the whole chain (target ≥ 100,000 records/s).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { ROOT, cpuDelta, cpuSnapshot, log, percentile, startHub, stopHub } from './hub-process.js';

const { values: o } = parseArgs({
  options: {
    patients: { type: 'string', default: '500' },
    observations: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    'verify-records': { type: 'string', default: '300000' },
    hub: { type: 'string', default: 'dist/main.js' },
    help: { type: 'boolean', default: false },
  },
});
if (o.help) {
  process.stdout.write('usage: node bench/audit.js [--patients N] [--observations N] [--rounds N] [--duration S] [--warmup S] [--connections N] [--verify-records N] [--hub dist/main.js]\n');
  process.exit(0);
}
const n = (k) => Number(o[k]);
const HUB = path.resolve(ROOT, o.hub);
const median = (xs) => percentile(xs, 50);

async function seed(hub) {
  const ids = [];
  const per = 20; // patients per transaction Bundle
  for (let p = 0; p < n('patients'); p += per) {
    const entry = [];
    for (let i = p; i < Math.min(p + per, n('patients')); i++) {
      const full = `urn:uuid:${randomUUID()}`;
      entry.push({ fullUrl: full, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: `Audit${i}`, given: ['Bench'] }], gender: i % 2 ? 'female' : 'male', birthDate: '1970-01-01' } });
      for (let k = 0; k < n('observations'); k++) {
        entry.push({ request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: full }, valueQuantity: { value: 60 + k, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } } });
      }
    }
    const res = await fetch(`${hub.base}/fhir`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', ...hub.auth }, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    if (res.status !== 200) throw new Error(`seeding failed: ${res.status} ${(await res.text()).slice(0, 300)}`);
    for (const e of (await res.json()).entry) ids.push(e.response.location.split('/_history/')[0]);
  }
  return ids;
}

/** Reads by id for `duration` s, and the CPU per request (µs) of the hub and of its PostgreSQL over them. */
async function cannon(hub, ids, duration) {
  const before = cpuSnapshot(hub.pid);
  const res = await cannonOnly(hub, ids, duration);
  const cpu = cpuDelta(before, cpuSnapshot(hub.pid));
  const perReq = (pct) => (pct / 100 / res.rps) * 1e6;
  return { ...res, hubUs: perReq(cpu.hub), pgUs: perReq(cpu.pg), cpu };
}

function cannonOnly(hub, ids, duration) {
  let k = 0;
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      { url: hub.base, connections: n('connections'), duration, timeout: 30, headers: { accept: 'application/fhir+json', ...hub.auth }, requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/fhir/${ids[k++ % ids.length]}` }) }] },
      (err, res) => (err ? reject(err) : resolve({ rps: res.requests.total / res.duration, p99: res.latency.p99, non2xx: res.non2xx, errors: res.errors })),
    );
    inst.on('error', reject);
  });
}

/** Appends synthetic read records through the hub's own AuditChain (so the chain stays valid). */
async function padChain(pgUrl, count, base) {
  const { Db } = await import(path.join(ROOT, 'dist/modules/database/db.js'));
  const { AuditChain } = await import(path.join(ROOT, 'dist/audit/audit-chain.js'));
  const { interactionEvent } = await import(path.join(ROOT, 'dist/audit/audit-event-builder.js'));
  const pool = new pg.Pool({ connectionString: pgUrl, max: 2 });
  const chain = new AuditChain(new Db(pool));
  const t0 = Date.now();
  for (let done = 0; done < count; ) {
    const events = [];
    for (let i = 0; i < 2000 && done < count; i++, done++) {
      const ix = { kind: 'read', resourceType: 'Observation', id: randomUUID(), params: [], prefer: {}, principal: { kind: 'system', scopes: [], address: '127.0.0.1' }, door: 'rest', requestId: randomUUID() };
      events.push(interactionEvent(ix, `${base}/fhir`, { result: { status: 200, resourceJson: `{"subject": {"reference": "Patient/${i % 500}"}}` } }));
    }
    await chain.append(...events);
  }
  await pool.end();
  return (Date.now() - t0) / 1000;
}

async function main() {
  const hubs = [];
  const stopAll = () => Promise.all(hubs.map((h) => stopHub(h)));
  process.on('SIGINT', () => stopAll().then(() => process.exit(130)));
  try {
    log('starting two hubs (audit on, audit off)');
    const on = await startHub({ hub: HUB, prefix: 'hub-audit-on-', logLevel: 'warn' });
    hubs.push(on);
    const off = await startHub({ hub: HUB, prefix: 'hub-audit-off-', logLevel: 'warn', env: { HUB_AUDIT: 'off' } });
    hubs.push(off);
    log(`seeding ${n('patients')} patients × ${n('observations')} observations into each`);
    const [idsOn, idsOff] = [await seed(on), await seed(off)];
    const results = { on: [], off: [] };
    for (let r = 1; r <= n('rounds'); r++) {
      for (const [label, hub, ids] of [['off', off, idsOff], ['on', on, idsOn]]) {
        if (n('warmup') > 0) await cannon(hub, ids, n('warmup'));
        const res = await cannon(hub, ids, n('duration'));
        results[label].push(res);
        log(`round ${r} audit ${label}: ${Math.round(res.rps)} reads/s, p99 ${res.p99} ms, non-2xx ${res.non2xx}, errors ${res.errors}; CPU µs per read hub ${res.hubUs.toFixed(0)} PostgreSQL ${res.pgUs.toFixed(0)}; CPU % hub / pg / bench / other ${[res.cpu.hub, res.cpu.pg, res.cpu.bench, res.cpu.other].map((x) => x.toFixed(0)).join(' / ')}`);
      }
    }
    const rpsOn = median(results.on.map((x) => x.rps));
    const rpsOff = median(results.off.map((x) => x.rps));

    const count = n('verify-records');
    log(`appending ${count} synthetic records to the audit-on chain`);
    const pgUrl = `postgres://hub:hub@localhost:${on.pgPort}/hub`;
    const padS = count > 0 ? await padChain(pgUrl, count, on.base) : 0;
    log('verifying the chain (hub audit verify)');
    const t0 = Date.now();
    let out;
    try {
      out = execFileSync(process.execPath, [path.join(ROOT, 'dist/cli/hub-cli.js'), 'audit', 'verify', '--json', '--key', path.join(on.dir, 'audit-signing-key.json')], {
        env: { ...process.env, DATABASE_URL: pgUrl, LOG_LEVEL: 'error' },
        encoding: 'utf8',
      });
    } catch (e) {
      out = e.stdout; // exit code 1: a broken chain (reported below)
    }
    const report = JSON.parse(out);
    const wallS = (Date.now() - t0) / 1000;

    const lines = [
      `| measure | audit off | audit on | on/off | target |`,
      `|---|---|---|---|---|`,
      `| read by id (median of ${n('rounds')} × ${n('duration')} s, ${n('connections')} connections) | ${Math.round(rpsOff)} /s | ${Math.round(rpsOn)} /s | ${((rpsOn / rpsOff) * 100).toFixed(1)} % | ≥ 85 % |`,
      `| read p99 (median) | ${median(results.off.map((x) => x.p99))} ms | ${median(results.on.map((x) => x.p99))} ms | | |`,
      `| CPU µs per read, hub / PostgreSQL (median) | ${median(results.off.map((x) => x.hubUs)).toFixed(0)} / ${median(results.off.map((x) => x.pgUs)).toFixed(0)} | ${median(results.on.map((x) => x.hubUs)).toFixed(0)} / ${median(results.on.map((x) => x.pgUs)).toFixed(0)} | | |`,
      '',
      `| chain verification | value | target |`,
      `|---|---|---|`,
      `| records verified | ${report.records} (${report.ok ? 'OK' : `BROKEN: ${report.problems.map((p) => p.kind).join(', ')}`}) | |`,
      `| speed (walk only) | ${report.recordsPerSecond} records/s | ≥ 100,000 /s |`,
      `| whole command (node start-up, migrations check, walk) | ${wallS.toFixed(1)} s | |`,
      `| synthetic records appended through AuditChain | ${count} in ${padS.toFixed(1)} s (${Math.round(count / Math.max(padS, 0.001))} /s) | |`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await stopAll();
  }
}

main().catch((e) => {
  log(e?.stack ?? String(e));
  process.exitCode = 1;
});
