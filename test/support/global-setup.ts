import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startHub, type Hub } from '../../src/hub.js';

declare module 'vitest' {
  export interface ProvidedContext {
    hubUrl: string;
    fhirBase: string;
    dataDir: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

let hub: Hub | undefined;
let dataDir: string | undefined;

/**
 * One real hub for the whole run: a fresh embedded PostgreSQL in a temporary folder and the HTTP server on an
 * ephemeral port. Test files reach it over HTTP only (inject('fhirBase')).
 */
export async function setup(project: TestProject) {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  const embeddedPgPort = process.env.DATABASE_URL ? undefined : await freePort();
  hub = await startHub({ port: 0, host: '127.0.0.1', dataDir, embeddedPgPort, logLevel: process.env.LOG_LEVEL ?? 'warn', fhirBaseUrl: 'http://127.0.0.1:0/fhir' });
  project.provide('hubUrl', hub.url);
  project.provide('fhirBase', hub.config.fhirBaseUrl);
  project.provide('dataDir', dataDir);
}

export async function teardown() {
  await hub?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
