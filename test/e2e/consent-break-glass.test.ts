import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { bearer, createApp, createUser, login } from './auth-support.js';
import { clinician, consent, create, LOINC, searchAs, setPolicy, type Clinician } from './consent-support.js';

/** Break-the-glass: denied → request with reason → allowed → expiry → denied again → reviewed. */
let B: Clinician;
let patient: string;
let other: string;
let obs: string;
let otherObs: string;

const obsOf = (p: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code: '8310-5', display: 'Body temperature' }] },
  subject: { reference: `Patient/${p}` },
  effectiveDateTime: '2025-01-01T08:00:00Z',
});

const breakGlass = (p: string, parameter: any[], headers: Record<string, string>) =>
  http('POST', `Patient/${p}/$break-glass`, { resourceType: 'Parameters', parameter }, headers);

const part = (session: any, name: string) => session.part.find((x: any) => x.name === name);

beforeAll(async () => {
  await setPolicy({ base: 'opt-out', hideDenied: false });
  B = await clinician('Emergency');
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Glass', given: ['Broken'] }] });
  other = await create({ resourceType: 'Patient', name: [{ family: 'Glass', given: ['Whole'] }] });
  obs = await create(obsOf(patient));
  otherObs = await create(obsOf(other));
  // both patients deny everyone everything
  await create(consent(patient, { type: 'deny' }));
  await create(consent(other, { type: 'deny' }));
});

describe('break-the-glass', () => {
  it('needs a user token, a reason and an emergency purpose', async () => {
    expect((await breakGlass(patient, [{ name: 'reason', valueString: 'unconscious patient in ED' }], {})).status).toBe(403); // system client
    expect((await breakGlass(patient, [], B.headers)).status).toBe(400);
    expect((await breakGlass(patient, [{ name: 'reason', valueString: 'unconscious patient in ED' }, { name: 'purpose', valueCode: 'HRESCH' }], B.headers)).status).toBe(400);
    expect((await breakGlass('no-such-patient', [{ name: 'reason', valueString: 'unconscious patient in ED' }], B.headers)).status).toBe(404);
  });

  it('lifecycle: denied, emergency access for one patient, expiry, review', async () => {
    expect((await http('GET', `Observation/${obs}`, undefined, B.headers)).status).toBe(403);
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);

    const started = await breakGlass(patient, [{ name: 'reason', valueString: 'unconscious patient in ED, no relatives' }, { name: 'purpose', valueCode: 'ETREAT' }, { name: 'minutes', valueDecimal: 0.05 }], B.headers);
    expect(started.status).toBe(201);
    const session = started.body.parameter[0];
    const sessionId = part(session, 'id').valueString;
    expect(part(session, 'patient').valueReference.reference).toBe(`Patient/${patient}`);
    expect(part(session, 'status').valueCode).toBe('pending');

    // during the session: this patient's data is visible to this user, nobody else's denials change
    expect((await http('GET', `Observation/${obs}`, undefined, B.headers)).status).toBe(200);
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(1);
    expect((await http('GET', `Observation/${otherObs}`, undefined, B.headers)).status).toBe(403);
    const someoneElse = await clinician('Bystander');
    expect((await http('GET', `Observation/${obs}`, undefined, someoneElse.headers)).status).toBe(403);

    // the review queue lists it (admin only)
    const queue = await http('GET', '$break-glass-sessions');
    expect(queue.status).toBe(200);
    const listed = queue.body.parameter.find((s: any) => part(s, 'id').valueString === sessionId);
    expect(part(listed, 'reason').valueString).toBe('unconscious patient in ED, no relatives');
    expect(part(listed, 'purpose').valueCoding.code).toBe('ETREAT');
    expect((await http('GET', '$break-glass-sessions', undefined, B.headers)).status).toBe(403);

    // expiry: denied again (the search first: the hub keeps the user's facts for searches, and must see the end of
    // the session by the database's clock; a read would have read the facts afresh)
    await new Promise((r) => setTimeout(r, 3500));
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);
    expect((await http('GET', `Observation/${obs}`, undefined, B.headers)).status).toBe(403);

    // review by a compliance officer (full system access)
    expect((await http('POST', '$break-glass-review', { resourceType: 'Parameters', parameter: [{ name: 'session', valueString: sessionId }, { name: 'comment', valueString: 'ok' }] }, B.headers)).status).toBe(403);
    const reviewed = await http('POST', '$break-glass-review', { resourceType: 'Parameters', parameter: [{ name: 'session', valueString: sessionId }, { name: 'comment', valueString: 'justified: ED admission 02:14' }] });
    expect(reviewed.status).toBe(200);
    expect(part(reviewed.body.parameter[0], 'status').valueCode).toBe('reviewed');
    expect(part(reviewed.body.parameter[0], 'comment').valueString).toBe('justified: ED admission 02:14');
    const pending = await http('GET', '$break-glass-sessions');
    expect((pending.body.parameter ?? []).some((s: any) => part(s, 'id').valueString === sessionId)).toBe(false);
    const all = await http('GET', `$break-glass-sessions?status=all&patient=Patient/${patient}`);
    expect(all.body.parameter.map((s: any) => part(s, 'id').valueString)).toContain(sessionId);
    expect((await http('POST', '$break-glass-review', { resourceType: 'Parameters', parameter: [{ name: 'session', valueString: '00000000-0000-0000-0000-000000000000' }, { name: 'comment', valueString: 'x' }] })).status).toBe(404);
  });
});

describe('patients manage their own consents', () => {
  it('with patient/Consent.cruds a patient writes consents about themselves only', async () => {
    const app = await createApp('openid fhirUser launch/patient patient/*.rs patient/Consent.cruds');
    const user = await createUser(`Patient/${other}`);
    const t = await login({ clientId: app.clientId, scope: 'openid fhirUser launch/patient patient/Consent.cruds', user });
    const mine = await http('POST', 'Consent', consent(other, { type: 'permit' }), bearer(t.access_token));
    expect(mine.status).toBe(201);
    const theirs = await http('POST', 'Consent', consent(patient, { type: 'permit' }), bearer(t.access_token));
    expect(theirs.status).toBe(403);
    const list = await http('GET', 'Consent', undefined, bearer(t.access_token));
    expect(list.status).toBe(200);
    expect(list.body.entry.every((e: any) => e.resource.patient.reference === `Patient/${other}`)).toBe(true);
    // the patient's new permit and the earlier deny-all are both root provisions (depth 1): deny wins the tie
    const doc = await clinician('Family');
    expect((await http('GET', `Observation/${otherObs}`, undefined, doc.headers)).status).toBe(403);
    // the patient withdraws the deny-all consent themselves
    const denies = list.body.entry.filter((e: any) => e.resource.provision.type === 'deny');
    for (const d of denies) expect((await http('DELETE', `Consent/${d.resource.id}`, undefined, bearer(t.access_token))).status).toBe(204);
    expect((await http('GET', `Observation/${otherObs}`, undefined, doc.headers)).status).toBe(200);
  });
});
