import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { recordsOf, requestId } from './audit-support.js';
import { backendService } from './auth-support.js';
import { downloadAll, kickOff, startExport, waitForManifest } from './bulk-support.js';
import { actor, consent, create, LOINC, setPolicy } from './consent-support.js';
import { gql } from './graphql-support.js';

/**
 * Consent provisions on purpose of use, with the purpose a partner organization's backend service declares per
 * request (X-Purpose-Of-Use, within its registered purposes): the patient shares with that organization for
 * treatment only. Same decision on every door (REST read and search, GraphQL, bulk export), and on the audit record.
 */
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

let org: string;
let patient: string;
let observation: string;
let partner: { clientId: string; headers: Record<string, string> };
const as = (purpose: string) => ({ ...partner.headers, 'x-purpose-of-use': purpose });

beforeAll(async () => {
  // consent-policy.test.ts switches the base policy and hideDenied for a moment: the provisions below decide the
  // same under opt-in and opt-out, and a denied read is asserted as 403 or (hideDenied) 404
  await setPolicy({ base: 'opt-out', hideDenied: false });
  org = `Organization/${await create({ resourceType: 'Organization', name: 'Treating partner' })}`;
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Purposia', given: ['Consent'] }], birthDate: '1975-05-05' });
  observation = await create({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: '2024-01-01T10:00:00Z',
  });
  partner = await backendService('system/*.rs', { organization: org, purposeOfUse: ['TREAT', 'HRESCH'], defaultPurposeOfUse: 'TREAT' });
  // nothing is shared, except with the partner organization for treatment
  await create(consent(patient, { type: 'deny', provision: [{ type: 'permit', actor: [actor(org)], purpose: [{ system: ACT_REASON, code: 'TREAT' }] }] }));
});

describe('a provision that permits only treatment, for one organization', () => {
  it('REST read: TREAT (declared or the default) reads, HRESCH is denied, and the records say which purpose', async () => {
    const treat = requestId('consent-purpose');
    expect((await http('GET', `Observation/${observation}`, undefined, { ...as('TREAT'), 'x-request-id': treat })).status).toBe(200);
    expect((await http('GET', `Observation/${observation}`, undefined, partner.headers)).status).toBe(200);
    const research = requestId('consent-purpose');
    const denied = await http('GET', `Observation/${observation}`, undefined, { ...as('HRESCH'), 'x-request-id': research });
    expect([403, 404]).toContain(denied.status);
    expect(denied.body.resourceType).toBe('OperationOutcome');
    if (denied.status === 403) expect(denied.body.issue[0].diagnostics).toContain('provision (deny)');

    const records = await recordsOf([treat, research]);
    const read = (id: string) => records.find((r) => r.type.code === 'rest' && r.entity.some((e: any) => e.what?.identifier?.value === id));
    expect(read(treat)).toMatchObject({ outcome: '0', agent: [{ purposeOfUse: [{ coding: [{ system: ACT_REASON, code: 'TREAT' }] }] }] });
    expect(read(research)).toMatchObject({ outcome: '4', agent: [{ purposeOfUse: [{ coding: [{ system: ACT_REASON, code: 'HRESCH' }] }] }] });
  });

  it('REST search: the decision is in the SQL (totals agree)', async () => {
    const search = async (purpose: string) => (await http('GET', `Observation?subject=Patient/${patient}&_total=accurate`, undefined, as(purpose))).body.total;
    expect(await search('TREAT')).toBe(1);
    expect(await search('HRESCH')).toBe(0);
    expect(await search('TREAT,HRESCH')).toBe(1); // a permitted purpose among those declared permits
  });

  it('GraphQL: the same decision', async () => {
    const query = `{ ObservationList(subject: "Patient/${patient}") { id } }`;
    const treat = await gql('$graphql', query, { headers: as('TREAT') });
    expect(treat.body.errors, treat.text).toBeUndefined();
    expect(treat.body.data.ObservationList).toEqual([{ id: observation }]);
    const research = await gql('$graphql', query, { headers: as('HRESCH') });
    expect(research.body.errors, research.text).toBeUndefined();
    expect(research.body.data.ObservationList).toEqual([]);
  });

  it('bulk export: TREAT exports the patient\'s data; for HRESCH the Group itself (in the patient\'s compartment) is denied', async () => {
    const group = await create({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${patient}` } }] });
    const status = await startExport(`Group/${group}/$export?_type=Observation`, { headers: as('TREAT') });
    const { manifest } = await waitForManifest(status, 60_000, partner.headers);
    const files = await downloadAll(manifest, partner.headers);
    expect(files.get('Observation')?.map((o) => o.id)).toEqual([observation]);
    expect((await http('DELETE', status, undefined, partner.headers)).status).toBe(202);
    const research = await kickOff(`Group/${group}/$export?_type=Observation`, { headers: as('HRESCH') });
    expect([403, 404]).toContain(research.status);
    expect(((await research.json()) as any).resourceType).toBe('OperationOutcome');
  });
});
