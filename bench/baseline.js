#!/usr/bin/env node
// What this machine can do at all: the same autocannon load as the read phase of bench/run.js (GET, 32 connections,
// load generator on the same cores) against servers that do no work, so the hub's figures can be read against a
// ceiling:
//   - node:http answering a fixed 1.7 KB JSON body (the mean size of a Synthea resource read);
//   - fastify (the hub's HTTP layer) with the same body, without and with the hub's per-request log line (pino, sync
//     writes to a file, as when the hub's stdout goes to a file).
//
//   node bench/baseline.js [--duration 10] [--connections 32] [--rounds 3]
// The servers are measured in turn, --rounds times (interleaved, so that the other load on a shared machine hits
// them alike), and the medians are printed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    child: { type: 'string' },
  },
});

const BODY = JSON.stringify({ resourceType: 'Observation', id: 'x', note: 'x'.repeat(1650) });

if (values.child) {
  // server side
  if (values.child === 'http') {
    const http = await import('node:http');
    http
      .createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': Buffer.byteLength(BODY) });
        res.end(BODY);
      })
      .listen(0, '127.0.0.1', function () {
        process.send(this.address().port);
      });
  } else {
    const { default: Fastify, LogController } = await import('fastify');
    const { pino } = await import('pino');
    const dest = path.join(os.tmpdir(), `baseline-${process.pid}.log`);
    const log = pino({ level: 'info', base: { service: 'baseline' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest, sync: true }));
    const app = Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) });
    if (values.child === 'fastify-hook') app.addHook('onResponse', (req, reply, done) => done());
    if (values.child === 'fastify-log') app.addHook('onResponse', (req, reply, done) => {
      req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      done();
    });
    app.get('/*', (req, reply) => {
      reply.header('content-type', 'application/fhir+json; charset=utf-8').send(BODY);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    process.on('exit', () => fs.rmSync(dest, { force: true }));
    process.on('SIGTERM', () => process.exit(0));
    process.send(app.server.address().port);
  }
} else {
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const names = {
    http: 'node:http, fixed 1.7 KB body',
    fastify: 'fastify, same body, no request log',
    'fastify-hook': 'fastify + an empty onResponse hook, same body',
    'fastify-log': 'fastify + pino request log line (as the hub), same body',
  };
  const results = Object.fromEntries(Object.keys(names).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of Object.keys(names)) {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const port = await new Promise((resolve) => child.once('message', resolve));
      try {
        const opts = { url: `http://127.0.0.1:${port}/fhir/Observation/x`, connections };
        await autocannon({ ...opts, duration: 2 });
        const r = await autocannon({ ...opts, duration });
        results[kind].push({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.non2xx });
      } finally {
        child.kill('SIGTERM');
      }
    }
  }
  const med = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const rows = Object.entries(names).map(([k, name]) => {
    const rs = results[k];
    return `| ${name} | ${rs.map((r) => Math.round(r.rps)).join(' / ')} | **${Math.round(med(rs.map((r) => r.rps)))}** | ${med(rs.map((r) => r.p50))} | ${med(rs.map((r) => r.p99))} | ${rs.reduce((a, r) => a + r.bad, 0)} |`;
  });
  console.log(`baseline on ${os.cpus().length} cores, ${connections} connections, ${duration} s × ${rounds} rounds (medians), load generator on the same machine; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  console.log('| server | req/s per round | median req/s | p50 ms | p99 ms | errors + non-2xx |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}
