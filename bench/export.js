#!/usr/bin/env node
// HIE hub bulk export benchmark: a system-level $export of the whole database, end to end (kick-off → manifest →
// every file downloaded), in resources/s, with the hub's RSS sampled throughout.
//
//   npm run build && node bench/export.js --reuse /path/to/DATA_DIR     (an existing database, e.g. the 1M one of
//                                                                        bench/search.js --reuse; it is kept)
//   npm run build && node bench/export.js --resources 20000              (a fresh database: Synthea bundles posted
//                                                                        until N resources, then exported)
//   node bench/export.js --help
//
// Targets (issue 9): >= 20,000 resources/s end to end; hub RSS < 300 MB throughout.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { ROOT, log, rssKb, sleep, startHub, stopHub } from './hub-process.js';

const RATE_TARGET = 20_000;
const RSS_TARGET_MB = 300;

const HELP = `usage: node bench/export.js [options]
  --reuse DIR       export an existing DATA_DIR (kept); without it a fresh database is generated
  --resources N     resources to load into a fresh database (default 20000; Synthea bundles posted repeatedly)
  --data DIR        Synthea bundles (default $SYNTHEA_DIR or /work/shared/data/synthea)
  --batch N         BULK_BATCH_SIZE of the hub (default: the hub's, 2000)
  --hub FILE        default dist/main.js
  --write FILE      markdown report (default "-": not written; e.g. bench/EXPORT-RESULTS.md)
`;

function options() {
  const { values } = parseArgs({
    options: {
      reuse: { type: 'string' },
      resources: { type: 'string', default: '20000' },
      data: { type: 'string', default: process.env.SYNTHEA_DIR || '/work/shared/data/synthea' },
      batch: { type: 'string' },
      hub: { type: 'string', default: path.join(ROOT, 'dist/main.js') },
      write: { type: 'string', default: '-' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const hub = path.resolve(values.hub);
  if (!fs.existsSync(hub)) throw new Error(`${hub} does not exist: run "npm run build" first`);
  return {
    reuse: values.reuse ? path.resolve(values.reuse) : undefined,
    resources: Number(values.resources),
    data: path.resolve(values.data),
    batch: values.batch,
    hub,
    write: values.write === '-' ? undefined : path.resolve(values.write),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
/** the bench client's bearer token header (hub-process.js), once the hub runs */
let auth = {};

function request(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { accept: 'application/fhir+json', ...auth, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Downloads a file counting its lines and bytes without keeping it. */
function download(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers: { accept: 'application/fhir+ndjson', ...auth } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
      let lines = 0;
      let bytes = 0;
      res.on('data', (c) => {
        bytes += c.length;
        for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lines++;
      });
      res.on('end', () => resolve({ lines, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function load(base, opts) {
  const files = fs.readdirSync(opts.data).filter((f) => f.endsWith('.json') && !f.startsWith('hospital') && !f.startsWith('practitioner')).sort();
  let loaded = 0;
  const t0 = performance.now();
  for (let round = 0; loaded < opts.resources; round++) {
    for (const f of files) {
      if (loaded >= opts.resources) break;
      const text = fs.readFileSync(path.join(opts.data, f), 'utf8');
      const res = await request(`${base}/fhir`, { method: 'POST', body: text, headers: { 'content-type': 'application/fhir+json' } });
      if (res.status !== 200) throw new Error(`loading ${f}: ${res.status} ${res.text.slice(0, 300)}`);
      loaded += JSON.parse(res.text).entry.length;
    }
  }
  log(`loaded ${loaded} resources in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return loaded;
}

async function main() {
  const opts = options();
  const env = opts.batch ? { BULK_BATCH_SIZE: opts.batch } : {};
  const hub = await startHub({ hub: opts.hub, dir: opts.reuse, prefix: 'hub-export-', logLevel: 'warn', env });
  auth = hub.auth ?? {};
  const samples = [];
  const sampler = setInterval(() => {
    const kb = rssKb(hub.pid);
    if (kb) samples.push(kb);
  }, 200);
  try {
    const base = hub.base;
    if (!opts.reuse) await load(base, opts);
    const idleRss = rssKb(hub.pid);
    samples.length = 0;
    const t0 = performance.now();
    const kick = await request(`${base}/fhir/$export`, { headers: { prefer: 'respond-async' } });
    if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${kick.text}`);
    const status = kick.headers['content-location'];
    let manifest;
    for (;;) {
      const res = await request(status);
      if (res.status === 200) {
        manifest = JSON.parse(res.text);
        break;
      }
      if (res.status !== 202) throw new Error(`status: ${res.status} ${res.text}`);
      await sleep(250);
    }
    const tExport = performance.now();
    let lines = 0;
    let bytes = 0;
    for (const o of manifest.output) {
      const d = await download(o.url);
      if (d.lines !== o.count) throw new Error(`${o.url}: ${d.lines} lines, manifest says ${o.count}`);
      lines += d.lines;
      bytes += d.bytes;
    }
    const tEnd = performance.now();
    clearInterval(sampler);
    await request(status, { method: 'DELETE' });
    const exportS = (tExport - t0) / 1000;
    const totalS = (tEnd - t0) / 1000;
    const maxRssMb = Math.max(...samples) / 1024;
    const rate = lines / totalS;
    const report = [
      `# Bulk export benchmark`,
      '',
      `- ${new Date().toISOString()}, Node ${process.version}, hub ${path.relative(ROOT, opts.hub)}, --max-old-space-size=256, database: ${opts.reuse ?? `fresh, ${opts.resources} resources`}`,
      `- system-level \`$export\` of every type: ${lines} resources in ${manifest.output.length} files, ${(bytes / 1e6).toFixed(1)} MB`,
      '',
      '| measure | value | target |',
      '|---|---:|---:|',
      `| kick-off → manifest | ${exportS.toFixed(1)} s (${(lines / exportS).toFixed(0)} resources/s) | |`,
      `| end to end (kick-off → every file downloaded) | ${totalS.toFixed(1)} s (**${rate.toFixed(0)} resources/s**) | ≥ ${RATE_TARGET} ${rate >= RATE_TARGET ? '✔' : '✘'} |`,
      `| hub RSS (idle before → max during, sampled every 200 ms) | ${(idleRss / 1024).toFixed(0)} → **${maxRssMb.toFixed(0)} MB** | < ${RSS_TARGET_MB} MB ${maxRssMb < RSS_TARGET_MB ? '✔' : '✘'} |`,
      '',
    ].join('\n');
    process.stdout.write(report + '\n');
    if (opts.write) fs.writeFileSync(opts.write, report);
  } finally {
    clearInterval(sampler);
    await stopHub(hub);
  }
}

main().catch((e) => {
  log(e.stack ?? String(e));
  process.exit(1);
});

