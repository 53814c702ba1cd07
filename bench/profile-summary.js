// Summarises a V8 .cpuprofile (from bench/profiler-preload.js or `node --cpu-prof`) as markdown:
//   - time by component (hub source file, npm package, node core, V8 builtins, GC), self and inclusive;
//   - self time by "owner": native/node-core time (socket writes, JSON, GC-free builtins) charged to the nearest
//     npm package or hub frame that called it (e.g. writev under fastify = sending HTTP responses, under pg = SQL);
//   - top functions by self time;
//   - top hub functions (dist/ or src/) by inclusive time: "where does the request time go".
// Percentages are of the sampled non-idle time of the hub's main thread (idle = waiting on I/O, e.g. PostgreSQL).
//
// usage: node bench/profile-summary.js <file.cpuprofile|file.heapprofile> [--top 25]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Which component a call frame belongs to. */
export function componentOf(frame) {
  const url = frame.url || '';
  const fn = frame.functionName || '';
  if (!url) {
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(program)') return '(program: native/VM, unattributed)';
    if (fn === '(idle)') return '(idle)';
    if (fn === '(root)') return '(root)';
    return `V8 builtin ${fn || '(anonymous)'}`; // JSON.parse, JSON.stringify, RegExp, ...
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return 'pkg ' + (rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]);
  }
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node ${m ? m[1] : url}`;
  }
  const d = /\/(?:dist[\w-]*|src)\/(.+?)(?:\.[cm]?js|\.ts)?$/.exec(url); // dist/, or a copy built elsewhere (bench/out/dist-base/)
  if (d) return `hub ${d[1]}`;
  return url.replace(/^file:\/\//, '');
}

function frameName(frame) {
  const url = (frame.url || '').replace(/^file:\/\//, '');
  const short = url.includes('/node_modules/')
    ? url.slice(url.lastIndexOf('/node_modules/') + 14)
    : url.replace(/^.*\/(dist[\w-]*|src)\//, '$1/');
  const fn = frame.functionName || '(anonymous)';
  return url ? `${fn} ${short}:${frame.lineNumber + 1}` : fn;
}

const pct = (x, total) => (total ? ((100 * x) / total).toFixed(1) : '0.0');

export function summarise(profile, { top = 25, title = 'profile' } = {}) {
  const byId = new Map();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // time per sample: timeDeltas[i] is the time before sample i; attribute the gap after a sample to it
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfUs = new Map();
  const stackCache = new Map();
  const stackOf = (id) => {
    let s = stackCache.get(id);
    if (!s) {
      s = [];
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) s.push(byId.get(cur));
      stackCache.set(id, s);
    }
    return s;
  };
  const compSelf = new Map();
  const compIncl = new Map();
  const fnSelf = new Map();
  const hubIncl = new Map();
  const owner = new Map(); // self time charged to the nearest npm package or hub frame on the stack
  let idle = 0;
  let busy = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    const node = byId.get(samples[i]);
    if (!node) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    selfUs.set(node.id, (selfUs.get(node.id) ?? 0) + dt);
    const comp = componentOf(f);
    compSelf.set(comp, (compSelf.get(comp) ?? 0) + dt);
    const fk = frameName(f);
    const e = fnSelf.get(fk) ?? { us: 0, comp };
    e.us += dt;
    fnSelf.set(fk, e);
    let own = comp;
    for (const fr of stackOf(node.id)) {
      const c = componentOf(fr.callFrame);
      if (c.startsWith('pkg ') || c.startsWith('hub ')) {
        own = c;
        break;
      }
    }
    owner.set(own, (owner.get(own) ?? 0) + dt);
    const seenComp = new Set();
    const seenFn = new Set();
    for (const fr of stackOf(node.id)) {
      const cf = fr.callFrame;
      if (SPECIAL.has(cf.functionName) && !cf.url) continue;
      const c = componentOf(cf);
      if (!seenComp.has(c)) {
        seenComp.add(c);
        compIncl.set(c, (compIncl.get(c) ?? 0) + dt);
      }
      if (c.startsWith('hub ')) {
        const k = frameName(cf);
        if (!seenFn.has(k)) {
          seenFn.add(k);
          hubIncl.set(k, (hubIncl.get(k) ?? 0) + dt);
        }
      }
    }
  }
  const total = busy + idle;
  const lines = [];
  lines.push(`#### ${title}`);
  lines.push('');
  lines.push(
    `Sampled ${(total / 1e6).toFixed(1)} s of the hub's main thread: busy ${pct(busy, total)}%, idle ${pct(idle, total)}% (idle = waiting for PostgreSQL or the network). Percentages below are of busy time.`,
  );
  lines.push('');
  lines.push('| component | self % | inclusive % |');
  lines.push('|---|---:|---:|');
  const comps = [...compSelf.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [c, us] of comps) lines.push(`| ${c} | ${pct(us, busy)} | ${pct(compIncl.get(c) ?? us, busy)} |`);
  lines.push('');
  lines.push('| owner (self time of node core, V8 builtins and syscalls charged to the nearest package or hub caller) | % |');
  lines.push('|---|---:|');
  for (const [c, us] of [...owner.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`| ${c} | ${pct(us, busy)} |`);
  lines.push('');
  lines.push('| top functions by self time | component | self % |');
  lines.push('|---|---|---:|');
  for (const [k, e] of [...fnSelf.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${e.comp} | ${pct(e.us, busy)} |`);
  }
  lines.push('');
  lines.push('| hub functions by inclusive time | inclusive % |');
  lines.push('|---|---:|');
  for (const [k, us] of [...hubIncl.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${pct(us, busy)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * Summarises a sampling allocation profile (.heapprofile from bench/profiler-preload.js with
 * BENCH_PROFILE_KIND=allocations; freed objects included): bytes allocated by component, by function (self), and by
 * hub function including what its callees allocate. Garbage-collection time follows the bytes allocated and, more,
 * the bytes still alive at each young-generation collection.
 */
export function summariseAllocations(profile, { top = 25, title = 'profile' } = {}) {
  const byComponent = new Map();
  const bySelf = new Map();
  const byHubInclusive = new Map();
  let total = 0;
  const visit = (node, stack) => {
    const frame = node.callFrame;
    const here = [...stack, frame];
    const bytes = node.selfSize ?? 0;
    if (bytes) {
      total += bytes;
      const comp = componentOf(frame);
      byComponent.set(comp, (byComponent.get(comp) ?? 0) + bytes);
      const name = frameName(frame);
      bySelf.set(`${name}\u0000${comp}`, (bySelf.get(`${name}\u0000${comp}`) ?? 0) + bytes);
      const seen = new Set();
      for (const f of here) {
        if (!componentOf(f).startsWith('hub ')) continue;
        const k = frameName(f);
        if (seen.has(k)) continue;
        seen.add(k);
        byHubInclusive.set(k, (byHubInclusive.get(k) ?? 0) + bytes);
      }
    }
    for (const c of node.children ?? []) visit(c, here);
  };
  visit(profile.head, []);
  const mb = (b) => (b / 1048576).toFixed(1);
  const lines = [`#### ${title}`, '', `Sampled allocations: ${mb(total)} MB in all (objects freed since included). Percentages are of that.`, ''];
  const table = (head, rows) => {
    lines.push(head, '|---|---:|---:|');
    for (const [k, b] of rows) lines.push(`| ${k} | ${mb(b)} | ${pct(b, total)} |`);
    lines.push('');
  };
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  table('| component | MB | % |', sorted(byComponent));
  table('| function (self) | MB | % |', sorted(bySelf).map(([k, b]) => [`\`${k.split('\u0000')[0].replace(/\|/g, '\\|')}\``, b]));
  table('| hub function (inclusive) | MB | % |', sorted(byHubInclusive).map(([k, b]) => [`\`${k.replace(/\|/g, '\\|')}\``, b]));
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 25;
  const files = args.filter((a, i) => a !== '--top' && (ti < 0 || i !== ti + 1));
  if (!files.length) {
    console.error('usage: node bench/profile-summary.js <file.cpuprofile>... [--top N]');
    process.exit(2);
  }
  for (const f of files) {
    const summary = f.endsWith('.heapprofile') ? summariseAllocations : summarise;
    console.log(summary(JSON.parse(fs.readFileSync(f, 'utf8')), { top, title: path.basename(f) }));
  }
}
