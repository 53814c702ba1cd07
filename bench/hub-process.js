// Shared by the benchmarks (bench/run.js, bench/search.js): start the built hub as a child process on a fresh
// temporary DATA_DIR and embedded PostgreSQL, stop it (and any PostgreSQL it left behind), and small helpers.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, '..');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const log = (...a) => process.stderr.write(a.join(' ') + '\n');

export function readProc(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function percentile(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  if (!v.length) return undefined;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

/** Deterministic random numbers in [0, 1) (mulberry32), so runs pick the same values. */
export function rnd32(seed = 42) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function freePort(avoid = []) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => (avoid.includes(port) ? freePort(avoid).then(resolve, reject) : resolve(port)));
    });
  });
}

export function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readProc(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) : undefined;
}

export function tail(file, n = 30) {
  return (readProc(file) ?? '').split('\n').slice(-n).join('\n');
}

/** True when the URL answers 200 (readiness when LOG_LEVEL hides the "hub listening" line). */
function answers(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

/**
 * Starts `node --max-old-space-size=256 <hub>` (the heap cap of `npm start`) on a new temporary DATA_DIR and free
 * ports (or on `dir`, which is then kept), and waits until it listens. `nodeArgs` and `env` are added; LOG_LEVEL defaults to `logLevel`.
 */
export async function startHub({ hub: entry, keep = false, dir: fixedDir, prefix = 'hub-bench-', logLevel = 'info', nodeArgs = [], env: extraEnv = {} }) {
  // a fixed DATA_DIR (an existing database to reuse) is always kept
  if (fixedDir) {
    fs.mkdirSync(fixedDir, { recursive: true });
    keep = true;
  }
  const dir = fixedDir ?? fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const port = await freePort();
  const pgPort = await freePort([port, 54329]);
  const logFile = path.join(dir, 'hub.log');
  const fd = fs.openSync(logFile, 'a');
  const env = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: dir,
    EMBEDDED_PG_PORT: String(pgPort),
    LOG_LEVEL: process.env.LOG_LEVEL || logLevel,
    // authorization is on (as in production): the bench uses a system/*.* token of a bootstrap client
    HUB_BOOTSTRAP_CLIENT_ID: BENCH_CLIENT.id,
    HUB_BOOTSTRAP_CLIENT_SECRET: BENCH_CLIENT.secret,
    HUB_AUTH_SYSTEM_TOKEN_TTL: '86400',
    ...extraEnv,
  };
  delete env.DATABASE_URL; // always the embedded, fresh database
  delete env.HUB_PUBLIC_URL;
  const child = spawn(process.execPath, ['--max-old-space-size=256', ...nodeArgs, entry], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const hub = { child, pid: child.pid, dir, logFile, port, pgPort, base: `http://127.0.0.1:${port}`, exited: false, keep };
  child.on('exit', (code, signal) => {
    hub.exited = true;
    hub.exit = { code, signal };
  });
  const t0 = Date.now();
  let polls = 0;
  while (true) {
    if (hub.exited) throw Object.assign(new Error(`hub exited during start-up (${JSON.stringify(hub.exit)}):\n${tail(logFile)}`), { hub });
    if ((readProc(logFile) ?? '').includes('"msg":"hub listening"')) break;
    if (++polls % 5 === 0 && (await answers(`${hub.base}/fhir/metadata`))) break;
    if (Date.now() - t0 > 180_000) throw Object.assign(new Error(`hub not ready after 180 s:\n${tail(logFile)}`), { hub });
    await sleep(100);
  }
  hub.startupS = (Date.now() - t0) / 1000;
  hub.auth = await systemToken(hub.base);
  return hub;
}

const BENCH_CLIENT = { id: 'bench', secret: 'bench-secret-0123456789abcdef' };

/**
 * `{ authorization: 'Bearer …' }` for the bench client, or {} for a hub without authorization (an older build, or
 * HUB_AUTH=off). A failed request or a server error is retried for a while (the hub may still be setting up).
 */
export async function systemToken(base) {
  let last;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const res = await fetch(`${base}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${BENCH_CLIENT.id}:${BENCH_CLIENT.secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials&scope=system%2F*.*',
      });
      if (res.status === 404) return {}; // no authorization server
      const text = await res.text();
      const body = text.startsWith('{') ? JSON.parse(text) : {};
      if (body.access_token) return { authorization: `Bearer ${body.access_token}` };
      last = `${res.status} ${text.slice(0, 200)}`;
      if (res.status === 400 || res.status === 401) break; // a definite no (e.g. the bench set up its own bootstrap client)
    } catch (e) {
      last = String(e);
    }
    await sleep(500);
  }
  log(`no token for the bench client from ${base}: ${last}`);
  return {};
}

/** SIGTERM (SIGKILL after 30 s), then stops a PostgreSQL a killed hub left behind, then removes DATA_DIR. */
export async function stopHub(hub) {
  if (!hub || hub.stopped || hub.attached) return;
  hub.stopped = true;
  if (!hub.exited) {
    hub.child.kill('SIGTERM');
    for (let i = 0; i < 300 && !hub.exited; i++) await sleep(100);
    if (!hub.exited) {
      log(`hub ${hub.pid} did not stop within 30 s of SIGTERM; killing it`);
      hub.child.kill('SIGKILL');
      await sleep(500);
    }
  }
  const pidFile = path.join(hub.dir, 'pg', 'postmaster.pid');
  const pgPid = Number((readProc(pidFile) ?? '').split('\n')[0]);
  if (pgPid > 0) {
    try {
      process.kill(pgPid, 'SIGINT');
      for (let i = 0; i < 100 && fs.existsSync(pidFile); i++) await sleep(100);
    } catch {
      /* already gone */
    }
  }
  if (hub.keep) log(`kept ${hub.dir} (hub log: ${hub.logFile})`);
  else fs.rmSync(hub.dir, { recursive: true, force: true });
}

// /proc: CPU of the hub, its PostgreSQL (the hub's descendants), this process, and everything else on the machine

const CLK_TCK = 100; // USER_HZ on Linux

export function pssKb(pid) {
  const m = /^Pss:\s+(\d+)/m.exec(readProc(`/proc/${pid}/smaps_rollup`) ?? '');
  return m ? Number(m[1]) : 0;
}

/** utime+stime (clock ticks) and parent pid of a process. */
export function procStat(pid) {
  const s = readProc(`/proc/${pid}/stat`);
  if (!s) return undefined;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), sys: Number(f[12]) };
}

export function descendants(root) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(d));
  }
  const out = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

export function machineTicks() {
  const f = (readProc('/proc/stat') ?? '').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq + steal, all: f.slice(0, 8).reduce((a, b) => a + b, 0) };
}

export function cpuSnapshot(hubPid) {
  const pg = new Map();
  for (const p of descendants(hubPid)) pg.set(p, procStat(p)?.ticks ?? 0);
  const u = process.cpuUsage();
  const h = procStat(hubPid);
  return { t: performance.now(), hub: h?.ticks ?? 0, hubSys: h?.sys ?? 0, pg, bench: (u.user + u.system) / 1e6, machine: machineTicks() };
}

/** CPU used between two snapshots, in % of one core (2 cores = 200%). */
export function cpuDelta(a, b) {
  const wall = (b.t - a.t) / 1000;
  let pgTicks = 0;
  for (const [pid, t] of b.pg) pgTicks += t - (a.pg.get(pid) ?? 0);
  const ncpu = os.cpus().length;
  const machine = b.machine.all > a.machine.all ? ((b.machine.busy - a.machine.busy) / (b.machine.all - a.machine.all)) * 100 * ncpu : 0;
  const hub = ((b.hub - a.hub) / CLK_TCK / wall) * 100;
  const pg = (pgTicks / CLK_TCK / wall) * 100;
  const bench = ((b.bench - a.bench) / wall) * 100;
  const hubSys = ((b.hubSys - a.hubSys) / CLK_TCK / wall) * 100;
  return { hub, hubSys, pg, bench, other: Math.max(0, machine - hub - pg - bench) };
}

