import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { bearer, createApp, createPatient, createUser, login } from './auth-support.js';

/**
 * Scope enforcement: patient/ scopes keep every way of reaching data inside the context patient's compartment
 * (read, search, chain, _include, _revinclude, _has, history, compartment and system search, batch, transaction,
 * writes); v1 and v2 permissions; v2 query restrictions; user/ scopes.
 */

const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
const tag = randomUUID().slice(0, 8);
let A: string;
let B: string;
let obsA: string;
let labA: string;
let obsB: string;
let app: { clientId: string };
let patientUserA: { username: string; password: string };
let practitioner: { username: string; password: string };

const observation = (patient: string, code: string, category = 'vital-signs', extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: CAT, code: category }] }],
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patient}` },
  identifier: [{ system: `urn:test:${tag}`, value: `${patient}-${code}` }],
  ...extra,
});

async function tokenFor(user: { username: string; password: string }, scope: string, pick?: string): Promise<Record<string, string>> {
  const t = await login({ clientId: app.clientId, scope, user, pick });
  return bearer(t.access_token);
}

const ids = (bundle: any, type?: string) =>
  (bundle.entry ?? []).filter((e: any) => !type || e.resource?.resourceType === type).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);

beforeAll(async () => {
  A = await createPatient(`${tag}Alpha`);
  B = await createPatient(`${tag}Beta`);
  obsA = (await http('POST', 'Observation', observation(A, '8867-4'))).body.id;
  labA = (await http('POST', 'Observation', observation(A, '2345-7', 'laboratory'))).body.id;
  obsB = (await http('POST', 'Observation', observation(B, '9279-1'))).body.id;
  app = await createApp('openid fhirUser launch launch/patient offline_access patient/*.cruds patient/*.* user/*.cruds user/*.* patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
  patientUserA = await createUser(`Patient/${A}`);
  const prac = await http('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Scope' }] });
  practitioner = await createUser(`Practitioner/${prac.body.id}`);
});

describe('patient/*.cruds: everything stays in the patient compartment', () => {
  let auth: Record<string, string>;
  beforeAll(async () => {
    auth = await tokenFor(patientUserA, 'launch/patient patient/*.cruds');
  });

  it('read: own records yes; the other patient and their data are not there (404)', async () => {
    expect((await http('GET', `Patient/${A}`, undefined, auth)).status).toBe(200);
    expect((await http('GET', `Observation/${obsA}`, undefined, auth)).status).toBe(200);
    expect((await http('GET', `Patient/${B}`, undefined, auth)).status).toBe(404);
    expect((await http('GET', `Observation/${obsB}`, undefined, auth)).status).toBe(404);
    expect((await http('GET', `Observation/${obsB}/_history/1`, undefined, auth)).status).toBe(404);
  });

  it('search: pages and totals hold only the compartment', async () => {
    const obs = await http('GET', `Observation?identifier=urn:test:${tag}|`, undefined, auth);
    expect(obs.status).toBe(200);
    expect(obs.body.total).toBe(2);
    expect(ids(obs.body).sort()).toEqual([`Observation/${labA}`, `Observation/${obsA}`].sort());
    const patients = await http('GET', `Patient?name=${tag}`, undefined, auth);
    expect(ids(patients.body)).toEqual([`Patient/${A}`]);
    const explicit = await http('GET', `Observation?subject=Patient/${B}`, undefined, auth);
    expect(explicit.body.total).toBe(0);
  });

  it('chain and _has cannot reach the other patient', async () => {
    const chain = await http('GET', `Observation?subject:Patient.name=${tag}Beta`, undefined, auth);
    expect(chain.status).toBe(200);
    expect(chain.body.total).toBe(0);
    const has = await http('GET', `Patient?_has:Observation:subject:code=9279-1`, undefined, auth);
    expect(has.status).toBe(200);
    expect(ids(has.body)).toEqual([]);
    const hasOwn = await http('GET', `Patient?_has:Observation:subject:code=8867-4&name=${tag}`, undefined, auth);
    expect(ids(hasOwn.body)).toEqual([`Patient/${A}`]);
  });

  it('_include and _revinclude never bring in the other patient', async () => {
    const inc = await http('GET', `Observation?identifier=urn:test:${tag}|&_include=Observation:subject:Patient`, undefined, auth);
    expect(ids(inc.body, 'Patient')).toEqual([`Patient/${A}`]);
    const rev = await http('GET', `Patient?name=${tag}&_revinclude=Observation:subject`, undefined, auth);
    expect(ids(rev.body, 'Observation').sort()).toEqual([`Observation/${labA}`, `Observation/${obsA}`].sort());
    expect(ids(rev.body)).not.toContain(`Patient/${B}`);
  });

  it('compartment and system searches are restricted too', async () => {
    const other = await http('GET', `Patient/${B}/Observation`, undefined, auth);
    expect(other.status).toBe(200);
    expect(other.body.total).toBe(0);
    const system = await http('GET', `?_type=Observation,Patient&identifier=urn:test:${tag}|`, undefined, auth);
    expect(system.status).toBe(200);
    expect(ids(system.body)).not.toContain(`Observation/${obsB}`);
    expect(system.body.total).toBe(2);
  });

  it('history: a type or the system is refused (403); another patient\'s resource is not there', async () => {
    expect((await http('GET', 'Observation/_history', undefined, auth)).status).toBe(403);
    expect((await http('GET', '_history', undefined, auth)).status).toBe(403);
    expect((await http('GET', `Observation/${obsB}/_history`, undefined, auth)).status).toBe(404);
    expect((await http('GET', `Observation/${obsA}/_history`, undefined, auth)).status).toBe(200);
  });

  it('batch: each entry is checked; the other patient is not there', async () => {
    const res = await http(
      'POST',
      '',
      { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${A}` } }, { request: { method: 'GET', url: `Patient/${B}` } }, { request: { method: 'GET', url: `Observation?subject=Patient/${B}` } }] },
      auth,
    );
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['200', '404', '200']);
    expect(res.body.entry[2].resource.total).toBe(0);
  });

  it('writes: creates must be in the compartment; a transaction with one forbidden entry changes nothing', async () => {
    const mine = await http('POST', 'Observation', observation(A, '1111-1'), auth);
    expect(mine.status).toBe(201);
    const theirs = await http('POST', 'Observation', observation(B, '2222-2'), auth);
    expect(theirs.status).toBe(403);
    expect(theirs.body.resourceType).toBe('OperationOutcome');
    const marker = `tx-${randomUUID()}`;
    const tx = await http(
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: observation(A, '3333-3', 'vital-signs', { identifier: [{ system: 'urn:tx', value: marker }] }), request: { method: 'POST', url: 'Observation' } },
          { resource: observation(B, '4444-4', 'vital-signs', { identifier: [{ system: 'urn:tx', value: marker }] }), request: { method: 'POST', url: 'Observation' } },
        ],
      },
      auth,
    );
    expect(tx.status).toBe(403);
    const stored = await http('GET', `Observation?identifier=urn:tx|${marker}`); // system token
    expect(stored.body.total).toBe(0);
  });

  it('update, patch and delete of the other patient\'s data: not there; moving own data to them: 403', async () => {
    const current = (await http('GET', `Observation/${obsB}`)).body;
    expect((await http('PUT', `Observation/${obsB}`, { ...current, status: 'amended' }, auth)).status).toBe(404);
    expect((await http('DELETE', `Observation/${obsB}`, undefined, auth)).status).toBe(404);
    const patch = [{ op: 'replace', path: '/subject/reference', value: `Patient/${B}` }];
    const moved = await http('PATCH', `Observation/${obsA}`, JSON.stringify(patch), { ...auth, 'content-type': 'application/json-patch+json' });
    expect(moved.status).toBe(403);
    expect((await http('GET', `Observation/${obsA}`)).body.subject.reference).toBe(`Patient/${A}`);
    const own = (await http('GET', `Observation/${obsA}`, undefined, auth)).body;
    expect((await http('PUT', `Observation/${obsA}`, { ...own, subject: { reference: `Patient/${B}` } }, auth)).status).toBe(403);
    expect((await http('PUT', `Observation/${obsA}`, { ...own, status: 'amended' }, auth)).status).toBe(200);
    expect((await http('GET', `Observation/${obsB}`)).body.status).toBe('final');
  });

  it('$operations: type and system level are refused under patient/ scopes', async () => {
    expect((await http('POST', 'Observation/$validate', { resourceType: 'Parameters' }, auth)).status).toBe(403);
    expect((await http('POST', '$reindex', { resourceType: 'Parameters' }, auth)).status).toBe(403);
  });
});

describe('permissions and query restrictions', () => {
  it('v1 read-only scopes allow read and search, not writes; other types are 403', async () => {
    const auth = await tokenFor(patientUserA, 'launch/patient patient/Observation.read patient/Patient.read');
    expect((await http('GET', `Observation/${obsA}`, undefined, auth)).status).toBe(200);
    expect((await http('GET', 'Observation', undefined, auth)).status).toBe(200);
    expect((await http('POST', 'Observation', observation(A, '5555-5'), auth)).status).toBe(403);
    expect((await http('GET', 'Encounter', undefined, auth)).status).toBe(403);
    // an _include of a type the scopes do not cover is refused
    expect((await http('GET', 'Observation?_include=Observation:performer', undefined, auth)).status).toBe(403);
  });

  it('v2 scopes: "rs" reads and searches; "r" alone does not search', async () => {
    const auth = await tokenFor(patientUserA, 'launch/patient patient/Observation.r');
    expect((await http('GET', `Observation/${obsA}`, undefined, auth)).status).toBe(200);
    expect((await http('GET', 'Observation', undefined, auth)).status).toBe(403);
  });

  it('v2 query restriction: only laboratory Observations are visible', async () => {
    const auth = await tokenFor(patientUserA, `launch/patient patient/Observation.rs?category=${CAT}|laboratory`);
    const found = await http('GET', `Observation?identifier=urn:test:${tag}|`, undefined, auth);
    expect(ids(found.body)).toEqual([`Observation/${labA}`]);
    expect((await http('GET', `Observation/${labA}`, undefined, auth)).status).toBe(200);
    expect((await http('GET', `Observation/${obsA}`, undefined, auth)).status).toBe(404);
  });

  it('user/ scopes reach every patient; user/*.rs does not write', async () => {
    const auth = await tokenFor(practitioner, 'user/*.rs');
    expect((await http('GET', `Observation/${obsB}`, undefined, auth)).status).toBe(200);
    const all = await http('GET', `Observation?identifier=urn:test:${tag}|`, undefined, auth);
    expect(ids(all.body)).toContain(`Observation/${obsB}`);
    expect((await http('POST', 'Observation', observation(B, '6666-6'), auth)).status).toBe(403);
  });
});
