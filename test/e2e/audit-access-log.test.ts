import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { params } from './audit-support.js';
import { backendService, bearer, createApp, createPatient, createUser, login } from './auth-support.js';

/**
 * `GET Patient/{id}/$access-log` with the patient's own token, obtained the way a patient's app gets it: a patient
 * user account linked to Patient/{id}, signed in through the authorization code flow (standalone launch). The log
 * names who read the patient's data (a practitioner through an app, a partner's backend service and why).
 */
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

let patient: string;
let other: string;
let practitioner: string;
let practitionerApp: string;
let partner: { clientId: string; headers: Record<string, string> };
let patientToken: Record<string, string>;

beforeAll(async () => {
  patient = await createPatient('Logged');
  other = await createPatient('Unlogged');
  practitioner = `Practitioner/${(await http('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Reader' }] })).body.id}`;
  const doctor = await createUser(practitioner);
  practitionerApp = (await createApp('openid fhirUser user/*.rs')).clientId;
  const doctorToken = await login({ clientId: practitionerApp, scope: 'openid fhirUser user/*.rs', user: doctor });
  partner = await backendService('system/Patient.rs', { purposeOfUse: ['TREAT', 'PUBHLTH'] });

  // the accesses the patient will see
  expect((await http('GET', `Patient/${patient}`, undefined, bearer(doctorToken.access_token))).status).toBe(200);
  expect((await http('GET', `Patient/${patient}`, undefined, { ...partner.headers, 'x-purpose-of-use': 'PUBHLTH' })).status).toBe(200);
  // an access to another patient only
  expect((await http('GET', `Patient/${other}`, undefined, bearer(doctorToken.access_token))).status).toBe(200);

  const patientUser = await createUser(`Patient/${patient}`);
  const patientApp = await createApp('openid fhirUser launch/patient patient/*.rs');
  const t = await login({ clientId: patientApp.clientId, scope: 'openid fhirUser launch/patient patient/*.rs', user: patientUser });
  expect(t.patient).toBe(patient);
  patientToken = bearer(t.access_token);
});

describe("a patient's own access log", () => {
  it('lists who accessed their data, through which app, why, newest first — and nothing about other patients', async () => {
    const res = await http('GET', `Patient/${patient}/$access-log`, undefined, patientToken);
    expect(res.status, res.text).toBe(200);
    expect(res.body.resourceType).toBe('Parameters');
    const accesses = params(res.body).access;
    // newest first: the partner's read, the practitioner's read, the creation by the run's system client
    expect(accesses.map((a: any) => a.interaction[0])).toEqual(['read', 'read', 'create']);
    const [byPartner, byPractitioner] = accesses;
    expect(byPartner.app).toEqual([partner.clientId]);
    expect(byPartner.who).toBeUndefined();
    expect(byPartner.purposeOfUse).toEqual([{ system: ACT_REASON, code: 'PUBHLTH' }]);
    expect(byPractitioner.who).toEqual([{ reference: practitioner }]);
    expect(byPractitioner.app).toEqual([practitionerApp]);
    expect(byPractitioner.purposeOfUse).toBeUndefined();
    for (const a of accesses) {
      expect(a.outcome).toEqual(['0']);
      expect(a.resource).toContain(`Patient/${patient}`);
      expect(a.event[0].reference).toMatch(/^AuditEvent\//);
    }
    expect(res.text).not.toContain(other);
  });

  it('reading the log is itself an access, on the log', async () => {
    const res = await http('GET', `Patient/${patient}/$access-log?_count=1`, undefined, patientToken);
    const [latest] = params(res.body).access;
    expect(latest.interaction).toEqual(['$access-log']);
    expect(latest.who).toEqual([{ reference: `Patient/${patient}` }]);
  });

  it("is refused for another patient's log (outside the token's compartment: 404, existence not revealed) and to a practitioner (403)", async () => {
    const foreign = await http('GET', `Patient/${other}/$access-log`, undefined, patientToken);
    expect(foreign.status).toBe(404);
    expect(foreign.body.resourceType).toBe('OperationOutcome');
    expect(foreign.text).not.toContain(practitioner);
    const doctor = await createUser(practitioner);
    const t = await login({ clientId: practitionerApp, scope: 'openid fhirUser user/*.rs', user: doctor });
    const byDoctor = await http('GET', `Patient/${patient}/$access-log`, undefined, bearer(t.access_token));
    expect(byDoctor.status).toBe(403);
    expect(byDoctor.body.issue[0].code).toBe('forbidden');
  });
});
