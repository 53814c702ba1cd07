import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { recordsOf, requestId } from './audit-support.js';
import { admin, authBase, backendService, bearer, createApp, createPatient, login } from './auth-support.js';
import { kickOff, startExport, waitForManifest } from './bulk-support.js';
import { gql } from './graphql-support.js';

/**
 * Who is asking, beyond the token: a client's organization and purposes of use (registered by an administrator), the
 * X-Purpose-Of-Use header of each request (limited to the client's purposes, else its default) on the REST, GraphQL
 * and bulk doors, and the audit record's agent.purposeOfUse (IHE BALP) — refused requests included.
 */
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const WRITING_ORGANIZATION = 'urn:hie-hub:writing-organization';

let org: string;
let patient: string;
let partner: { clientId: string; headers: Record<string, string> };

/** A request with its own X-Request-Id; returns the response and the request's one audit record. */
async function audited(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const id = requestId('purpose');
  const res = await http(method, path, body, { ...headers, 'x-request-id': id });
  const records = await recordsOf([id]);
  expect(records, JSON.stringify(records)).toHaveLength(1);
  return { res, record: records[0] };
}

/** The purposes of use on the record's requesting agent. */
const purposesOf = (record: any): string[] =>
  (record.agent.find((a: any) => a.requestor)?.purposeOfUse ?? []).flatMap((p: any) => p.coding.map((c: any) => `${c.system}|${c.code}`));

beforeAll(async () => {
  org = `Organization/${(await http('POST', 'Organization', { resourceType: 'Organization', name: 'Partner clinic' })).body.id}`;
  patient = await createPatient('Purposeful');
  partner = await backendService('system/*.cruds', { organization: org, purposeOfUse: ['TREAT', 'HRESCH'], defaultPurposeOfUse: 'TREAT' });
});

describe('registration', () => {
  it('stores the organization and purposes with the client (admin API) and refuses bad ones', async () => {
    const got = await admin('GET', `clients/${partner.clientId}`);
    expect(got.body).toMatchObject({ hub_organization: org, hub_purpose_of_use: ['TREAT', 'HRESCH'], hub_default_purpose_of_use: ['TREAT'] });
    const base = { type: 'confidential-symmetric', grantTypes: ['client_credentials'], scope: 'system/Patient.rs' };
    for (const [bad, message] of [
      [{ organization: 'Practitioner/1' }, 'Organization/123'],
      [{ purposeOfUse: ['TREATMENT'] }, 'not a v3 PurposeOfUse code'],
      [{ purposeOfUse: ['BTG'] }, 'break-the-glass'],
      [{ purposeOfUse: ['TREAT'], defaultPurposeOfUse: 'HRESCH' }, 'not among the allowed purposes'],
    ] as const) {
      const res = await admin('POST', 'clients', { ...base, ...bad });
      expect(res.status).toBe(400);
      expect(res.body.error_description).toContain(message);
    }
  });

  it('cannot be set through dynamic registration', async () => {
    const res = await fetch(`${authBase()}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none', hub_organization: org, hub_purpose_of_use: ['TREAT'] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toBe('invalid_client_metadata');
  });
});

describe('X-Purpose-Of-Use on the REST door', () => {
  it("without the header a request carries the client's default; the audit record says so (agent.purposeOfUse, purposeOfEvent)", async () => {
    const { res, record } = await audited('GET', `Patient/${patient}`, partner.headers);
    expect(res.status).toBe(200);
    expect(purposesOf(record)).toEqual([`${ACT_REASON}|TREAT`]);
    expect(record.purposeOfEvent).toEqual([{ coding: [{ system: ACT_REASON, code: 'TREAT' }] }]);
  });

  it('a declared purpose among the allowed ones replaces the default (CODE, system|code, several)', async () => {
    expect(purposesOf((await audited('GET', `Patient/${patient}`, { ...partner.headers, 'x-purpose-of-use': 'HRESCH' })).record)).toEqual([`${ACT_REASON}|HRESCH`]);
    expect(purposesOf((await audited('GET', `Patient/${patient}`, { ...partner.headers, 'x-purpose-of-use': `${ACT_REASON}|HRESCH` })).record)).toEqual([`${ACT_REASON}|HRESCH`]);
    const both = await audited('GET', `Patient?_id=${patient}`, { ...partner.headers, 'x-purpose-of-use': 'TREAT, HRESCH' });
    expect(both.res.status).toBe(200);
    expect(purposesOf(both.record)).toEqual([`${ACT_REASON}|TREAT`, `${ACT_REASON}|HRESCH`]);
  });

  it('a purpose the client may not declare is refused (403 naming it) and recorded with the client and what it declared', async () => {
    const { res, record } = await audited('GET', `Patient/${patient}`, { ...partner.headers, 'x-purpose-of-use': 'TREAT,HPAYMT' });
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('forbidden');
    // only the refused code is named as refused, with what the client may declare
    expect(res.body.issue[0].diagnostics).toBe(`Purpose of use HPAYMT is not allowed: client ${partner.clientId} may declare TREAT, HRESCH`);
    expect(record.outcome).toBe('4');
    expect(record.outcomeDesc).toMatch(/^403 .*HPAYMT/);
    expect(record.agent[0].who.identifier.value).toBe(partner.clientId);
    expect(purposesOf(record)).toEqual([`${ACT_REASON}|TREAT`, `${ACT_REASON}|HPAYMT`]);
  });

  it('a malformed header is refused (400) and recorded with the client', async () => {
    for (const bad of ['TREAT,,HRESCH', 'treat me well', 'http://snomed.info/sct|TREAT', 'NOSUCHCODE']) {
      const { res, record } = await audited('GET', `Patient/${patient}`, { ...partner.headers, 'x-purpose-of-use': bad });
      expect(res.status, bad).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toContain('X-Purpose-Of-Use');
      expect(record.outcome).toBe('4');
      expect(record.agent[0].who.identifier.value).toBe(partner.clientId);
    }
  });

  it('a client registered without purposes declares none: no purpose on its records, 403 for any it declares', async () => {
    const plain = await backendService('system/Patient.rs');
    const { record } = await audited('GET', `Patient/${patient}`, plain.headers);
    expect(purposesOf(record)).toEqual([]);
    expect(record.purposeOfEvent).toBeUndefined();
    const refused = await http('GET', `Patient/${patient}`, undefined, { ...plain.headers, 'x-purpose-of-use': 'TREAT' });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].diagnostics).toContain('none registered');
  });

  it('nobody declares BTG (the hub sets it during break-the-glass)', async () => {
    const res = await http('GET', `Patient/${patient}`, undefined, { ...partner.headers, 'x-purpose-of-use': 'BTG' });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].diagnostics).toContain('break-the-glass');
  });

  it('browsers may send the header (CORS)', async () => {
    const res = await fetch(`${authBase().replace(/\/auth$/, '')}/fhir/Patient`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(res.headers.get('access-control-allow-headers')).toContain('X-Purpose-Of-Use');
  });
});

describe('organization', () => {
  it("the client's tokens act for its organization: what it writes is owned by it", async () => {
    const created = await http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'owned' }, subject: { reference: `Patient/${patient}` } }, partner.headers);
    expect(created.status).toBe(201);
    expect(created.body.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ system: WRITING_ORGANIZATION, code: org })]));
  });

  it("a user account's organization: the practitioner's token acts for it (a patient's account has none)", async () => {
    const practitioner = `Practitioner/${(await http('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Orgful' }] })).body.id}`;
    const user = { username: `u-org-${requestId().slice(-8)}`, password: 'correct horse battery' };
    const created = await admin('POST', 'users', { ...user, fhirUser: practitioner, organization: org });
    expect(created.status).toBe(201);
    expect(created.body.organization).toBe(org);
    expect((await admin('POST', 'users', { username: `${user.username}-p`, password: user.password, fhirUser: `Patient/${patient}`, organization: org })).status).toBe(400);
    const app = await createApp('openid fhirUser user/*.cruds');
    const t = await login({ clientId: app.clientId, scope: 'openid fhirUser user/*.cruds', user });
    const written = await http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'by user' }, subject: { reference: `Patient/${patient}` } }, bearer(t.access_token));
    expect(written.status).toBe(201);
    expect(written.body.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ system: WRITING_ORGANIZATION, code: org })]));
  });
});

describe('the other doors', () => {
  it('GraphQL: the declared purpose reaches every interaction of the query; a refused one is a 403 OperationOutcome, on record', async () => {
    const id = requestId('purpose-gql');
    const ok = await gql('$graphql', `{ Patient(id: "${patient}") { id } }`, { headers: { ...partner.headers, 'x-purpose-of-use': 'HRESCH', 'x-request-id': id } });
    expect(ok.body.errors, ok.text).toBeUndefined();
    expect(ok.body.data.Patient.id).toBe(patient);
    const [record] = await recordsOf([id]);
    expect(purposesOf(record)).toEqual([`${ACT_REASON}|HRESCH`]);

    const refusedId = requestId('purpose-gql');
    const refused = await gql('$graphql', `{ Patient(id: "${patient}") { id } }`, { headers: { ...partner.headers, 'x-purpose-of-use': 'PUBHLTH', 'x-request-id': refusedId } });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', diagnostics: expect.stringContaining('PUBHLTH') }] });
    const [refusal] = await recordsOf([refusedId]);
    expect(refusal.outcome).toBe('4');
    expect(refusal.agent[0].who.identifier.value).toBe(partner.clientId);
    expect(refusal.entity.find((e: any) => e.type?.code === 'XrequestId').detail[0].valueString).toBe('graphql');
  });

  it('bulk $export: the job runs with the purpose declared at kick-off (its records carry it); a refused one is a 403', async () => {
    const group = (await http('POST', 'Group', { resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${patient}` } }] })).body.id;
    const refused = await kickOff(`Group/${group}/$export?_type=Patient`, { headers: { ...partner.headers, 'x-purpose-of-use': 'HPAYMT' } });
    expect(refused.status).toBe(403);
    const id = requestId('purpose-bulk');
    const status = await startExport(`Group/${group}/$export?_type=Patient`, { headers: { ...partner.headers, 'x-purpose-of-use': 'HRESCH', 'x-request-id': id } });
    const [kickOffRecord] = await recordsOf([id]);
    expect(purposesOf(kickOffRecord)).toEqual([`${ACT_REASON}|HRESCH`]);
    // the status endpoint authenticates like the other doors: a malformed header is refused there too
    expect((await http('GET', status, undefined, { ...partner.headers, 'x-purpose-of-use': ',' })).status).toBe(400);
    await waitForManifest(status, 60_000, partner.headers);
    const job = status.split('/').pop();
    const completed = (await http('GET', `AuditEvent?entity=urn:uuid:${job}`)).body.entry.map((e: any) => e.resource).find((r: any) => r.subtype?.[0]?.code === 'export-completed');
    expect(purposesOf(completed)).toEqual([`${ACT_REASON}|HRESCH`]);
    expect((await http('DELETE', status, undefined, partner.headers)).status).toBe(202);
  });
});
