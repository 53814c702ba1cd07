import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

/** These tests run the built hub (`node dist/main.js`, built by `pretest`) as its own process, as `npm start` does. */
const MAIN = path.resolve('dist/main.js');


interface Proc {
  child: ChildProcess;
  base: string;
  /** Authorization header with a system/*.* token of the bootstrap client (authorization is on, as in production) */
  auth: { authorization: string };
  output: () => string;
  exited: Promise<number | null>;
}

/** `node dist/main.js` on this data directory and ports, its output collected. */
function spawnHub(dataDir: string, port: number, pgPort: number, extraEnv: Record<string, string> = {}): Pick<Proc, 'child' | 'output' | 'exited'> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
      HUB_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HUB_AUTH: '',
      HUB_BOOTSTRAP_CLIENT_ID: 'lifecycle',
      HUB_BOOTSTRAP_CLIENT_SECRET: 'lifecycle-secret-0123456789',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function startProcess(dataDir: string, port: number, pgPort: number, extraEnv: Record<string, string> = {}): Promise<Proc> {
  const { child, output, exited } = spawnHub(dataDir, port, pgPort, extraEnv);
  const deadline = Date.now() + 60_000;
  while (!output().includes('"hub listening"')) {
    if (child.exitCode !== null) throw new Error(`hub exited early: ${output()}`);
    if (Date.now() > deadline) throw new Error(`hub did not start: ${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = await fetch(`http://127.0.0.1:${port}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('lifecycle:lifecycle-secret-0123456789').toString('base64')}` },
    body: 'grant_type=client_credentials&scope=system%2F*.*',
  });
  const { access_token } = (await token.json()) as any;
  return { child, base: `http://127.0.0.1:${port}/fhir`, auth: { authorization: `Bearer ${access_token}` }, output, exited };
}

const post = (hub: Proc, body: unknown) =>
  fetch(hub.base, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal', ...hub.auth }, body: JSON.stringify(body) });

describe('process lifecycle (npm start)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-lifecycle-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('keeps data across a clean SIGTERM, finishing requests in flight and stopping PostgreSQL', { timeout: 180_000 }, async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const hub = await startProcess(dataDir, port, pgPort);
    const created = await fetch(`${hub.base}/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', ...hub.auth },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Lifecycle' }] }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as any).id;

    // a transaction of 4,000 entries (1–3 s of work) is being processed when SIGTERM arrives: it must complete. (With
    // 1,000 entries a fast, quiet machine had sometimes answered before the signal, and the test's premise was gone.)
    const entries = Array.from({ length: 4000 }, (_, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: { resourceType: 'Basic', code: { text: `inflight-${i}` } },
      request: { method: 'POST', url: 'Basic' },
    }));
    const inflight = post(hub, { resourceType: 'Bundle', type: 'transaction', entry: entries });
    await new Promise((r) => setTimeout(r, 300)); // body received, entries being written
    hub.child.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(200);
    // its keep-alive connection is closed with it; server.close() waited for it until the keep-alive timeout (72 s)
    expect(res.headers.get('connection')).toBe('close');
    expect(await hub.exited).toBe(0);
    expect(hub.output()).toContain('embedded PostgreSQL stopped');
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

    const again = await startProcess(dataDir, port, pgPort);
    try {
      const read = await fetch(`${again.base}/Patient/${id}`, { headers: again.auth });
      expect(read.status).toBe(200);
      expect(((await read.json()) as any).name[0].family).toBe('Lifecycle');
      const count = await fetch(`${again.base}/Basic?_summary=count`, { headers: again.auth });
      expect(((await count.json()) as any).total).toBe(4000);
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  });

  it('recovers after the hub is killed with SIGKILL (orphaned PostgreSQL)', { timeout: 180_000 }, async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const hub = await startProcess(dataDir, port, pgPort);
    hub.child.kill('SIGKILL');
    await hub.exited;
    const again = await startProcess(dataDir, port, pgPort);
    try {
      const res = await fetch(`${again.base}/metadata`);
      expect(res.status).toBe(200);
      // tokens are in PostgreSQL: the one issued before the kill still works; without one the API answers 401
      expect((await fetch(`${again.base}/Patient?_count=1`, { headers: hub.auth })).status).toBe(200);
      expect((await fetch(`${again.base}/Patient?_count=1`)).status).toBe(401);
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  });

  it('a SIGTERM while the hub starts stops it once started, PostgreSQL too', { timeout: 180_000 }, async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const { child, output, exited } = spawnHub(dataDir, port, pgPort);
    // the database is up and the rest of the hub is still starting
    const deadline = Date.now() + 60_000;
    while (!output().includes('"embedded PostgreSQL ready"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('"hub stopped"');
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  });

  it('HUB_AUTH=off: no token needed, and the start log says so loudly', { timeout: 180_000 }, async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const hub = await startProcess(dataDir, port, pgPort, { HUB_AUTH: 'off' });
    try {
      expect((await fetch(`${hub.base}/Patient?_count=1`)).status).toBe(200);
      expect(hub.output()).toMatch(/HUB_AUTH=off/);
    } finally {
      hub.child.kill('SIGTERM');
      expect(await hub.exited).toBe(0);
    }
  });
});
