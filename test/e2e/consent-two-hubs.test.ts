import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { http } from '../support/hub.js';
import { freePort } from '../support/ports.js';
import { actor, clinician, consent, create, setPolicy, SNOMED, type Clinician } from './consent-support.js';

/**
 * Two hub processes on one database: what the consent stage knows about a request (base policy, break-the-glass
 * sessions, practitioner roles) must be as fresh in the second process as in the one that made the change — the
 * very next request there is decided by it. The second hub is the built one (`node dist/main.js`, as `npm test`
 * builds it first) on the test run's PostgreSQL and DATA_DIR.
 */
const MAIN = path.resolve('dist/main.js');
let second: ChildProcess;
let base2: string;
let B: Clinician;
let patient: string;
let depression: string;

/** The same request on the second hub. */
const http2 = (method: string, p: string, body: unknown, headers: Record<string, string>) => http(method, `${base2}/${p}`, body, headers);

beforeAll(async () => {
  const dataDir = inject('dataDir');
  const pgPort = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[3]);
  const port = await freePort();
  second = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: `postgres://hub:hub@localhost:${pgPort}/hub`,
      LOG_LEVEL: 'info',
      HUB_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HUB_BOOTSTRAP_CLIENT_ID: inject('bootstrapClientId'),
      HUB_BOOTSTRAP_CLIENT_SECRET: inject('bootstrapClientSecret'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  second.stdout!.on('data', (d) => (out += d));
  second.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 90_000;
  while (!out.includes('"hub listening"')) {
    if (second.exitCode !== null) throw new Error(`second hub exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`second hub did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  base2 = `http://127.0.0.1:${port}/fhir`;

  B = await clinician('Twohub');
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Twohub' }] });
  depression = await create({ resourceType: 'Condition', subject: { reference: `Patient/${patient}` }, code: { coding: [{ system: SNOMED, code: '370143000' }] } });
});

afterAll(async () => {
  if (second && second.exitCode === null) {
    const exited = new Promise((r) => second.once('exit', r));
    second.kill('SIGTERM');
    await exited;
  }
});

/**
 * Several reads and searches on the second hub first, so that anything it might keep about this user is in its memory
 * (it keeps the user's consent facts for their searches: src/consent/consent-facts-cache.ts).
 */
async function warm(who: Clinician, expected: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    expect((await http2('GET', `Condition/${depression}`, undefined, who.headers)).status).toBe(expected);
    expect(await searchFinds(who, depression)).toBe(expected === 200);
  }
}

/** Whether the second hub's search of the patient's Conditions, as this clinician, returns this one. */
async function searchFinds(who: Clinician, id: string): Promise<boolean> {
  const res = await http2('GET', `Condition?subject=Patient/${patient}&_count=100`, undefined, who.headers);
  expect(res.status).toBe(200);
  return (res.body.entry ?? []).some((e: any) => e.resource?.id === id);
}

describe('consent context across hub processes', () => {
  it('the second hub serves the same user token', async () => {
    const res = await http2('GET', `Condition/${depression}`, undefined, B.headers);
    expect(res.status).toBe(200);
  });

  it('a base policy change made through one hub decides the next request on the other', async () => {
    await warm(B, 200);
    // opt-in for as short a time as possible: the base policy is global and other test files run in parallel
    await setPolicy({ base: 'opt-in' });
    try {
      // the search first: the reads before it read the facts live, and the hub keeps what they read
      const search = await http2('GET', `Condition?subject=Patient/${patient}&_total=accurate`, undefined, B.headers);
      expect(search.body.total).toBe(0);
      expect((await http2('GET', `Condition/${depression}`, undefined, B.headers)).status).toBe(403);
    } finally {
      await setPolicy({ base: 'opt-out' });
    }
    expect((await http2('GET', `Condition/${depression}`, undefined, B.headers)).status).toBe(200);
  });

  it('a break-the-glass session started through one hub opens the next request on the other', async () => {
    const id = await create(consent(patient, { type: 'deny', actor: [actor(B.practitioner)] }));
    try {
      await warm(B, 403);
      const start = await http('POST', `Patient/${patient}/$break-glass`, { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'two hubs' }] }, B.headers);
      expect(start.status).toBe(201);
      // a read first here (a search first in the policy test): each decides with the kept facts and checks them
      expect((await http2('GET', `Condition/${depression}`, undefined, B.headers)).status).toBe(200);
      expect(await searchFinds(B, depression)).toBe(true);
    } finally {
      await http('DELETE', `Consent/${id}`);
    }
  });

  it('a PractitionerRole written through one hub puts its organization\'s consents on the next request on the other', async () => {
    const org = `Organization/${await create({ resourceType: 'Organization', name: 'Twohub clinic' })}`;
    const C = await clinician('Roleless');
    const id = await create(consent(patient, { type: 'permit', provision: [{ type: 'deny', actor: [actor(org)] }] }));
    try {
      await warm(C, 200);
      await create({ resourceType: 'PractitionerRole', active: true, practitioner: { reference: C.practitioner }, organization: { reference: org } });
      const denied = await http2('GET', `Condition/${depression}`, undefined, C.headers);
      expect(denied.status).toBe(403);
      expect(denied.body.issue[0].diagnostics).toContain(`Consent/${id}`);
      expect(await searchFinds(C, depression)).toBe(false);
    } finally {
      await http('DELETE', `Consent/${id}`);
    }
  });
});
