import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startHub, type Hub } from '../../src/hub.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    hubUrl: string;
    fhirBase: string;
    dataDir: string;
    /** a `system/*.*` access token of the bootstrap client (client_credentials), for tests that are not about auth */
    systemToken: string;
    bootstrapClientId: string;
    bootstrapClientSecret: string;
  }
}

export const BOOTSTRAP_CLIENT_ID = 'test-bootstrap';
export const BOOTSTRAP_CLIENT_SECRET = 'test-bootstrap-secret-0123456789';

/** A client_credentials token of the bootstrap client (client_secret_basic). */
export async function systemToken(hubUrl: string, scope = 'system/*.*'): Promise<string> {
  const res = await fetch(`${hubUrl}/auth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${BOOTSTRAP_CLIENT_ID}:${BOOTSTRAP_CLIENT_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  const body: any = await res.json();
  if (!res.ok || !body.access_token) throw new Error(`bootstrap token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
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
  process.env.HUB_AUTH_ALLOW_PRIVATE_FETCH = '1'; // test clients publish their jwks_uri on 127.0.0.1
  hub = await startHub({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    embeddedPgPort,
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    fhirBaseUrl: 'http://127.0.0.1:0/fhir',
    // authorization is on, as in production; tests get a system/*.* token of this client through http()
    authEnabled: true,
    bootstrapClientId: BOOTSTRAP_CLIENT_ID,
    bootstrapClientSecret: BOOTSTRAP_CLIENT_SECRET,
  });
  const hubUrl = hub.config.fhirBaseUrl.replace(/\/fhir$/, '');
  project.provide('hubUrl', hubUrl);
  project.provide('systemToken', await systemToken(hubUrl));
  project.provide('bootstrapClientId', BOOTSTRAP_CLIENT_ID);
  project.provide('bootstrapClientSecret', BOOTSTRAP_CLIENT_SECRET);
  project.provide('fhirBase', hub.config.fhirBaseUrl);
  project.provide('dataDir', dataDir);
}

export async function teardown() {
  await hub?.close();
  // HUB_TEST_KEEP_DATA=1 keeps the database for a look afterwards (start a hub on it with DATA_DIR=<dir>)
  if (dataDir && process.env.HUB_TEST_KEEP_DATA) console.log(`test data kept in ${dataDir}`);
  else if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
