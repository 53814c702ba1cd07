import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { patientsOf, recordsOf, refsOf, requestId } from './audit-support.js';
import { actor, clinician, consent, create, LOINC, setPolicy, type Clinician } from './consent-support.js';

/**
 * Consent decisions in the hash-chained audit trail: a denial (with the Consent and the patient), a search whose
 * results consent filtered, and break-the-glass (start, each access, review) each leave an AuditEvent of type DCM
 * 110113 with subtype `urn:hie-hub:consent-decision|<kind>`, next to the interaction's own record — and nothing
 * of the kind where consent decided nothing.
 */
const DECISION = 'urn:hie-hub:consent-decision';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const FAMILY = `ConsentAudit-${randomUUID().slice(0, 8)}`;

let D: Clinician; // named by the deny
let E: Clinician; // not named
let patient: string;
let obs: string;
let denial: string;
let open: string; // a patient without consents
let openObs: string;

const observation = (p: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code: '8310-5', display: 'Body temperature' }] },
  subject: { reference: `Patient/${p}` },
  effectiveDateTime: '2025-02-01T08:00:00Z',
});

/** A request with its own X-Request-Id; the records it left: the interaction's and the consent decisions. */
async function call(method: string, path: string, who: Clinician | undefined, body?: unknown) {
  const id = requestId('consent-audit');
  const res = await http(method, path, body, { 'x-request-id': id, ...(who?.headers ?? {}) });
  const records = await recordsOf([id]);
  const decisions = records.filter((r) => r.subtype?.[0]?.system === DECISION);
  return { res, records, decisions, id };
}

const kinds = (decisions: any[]) => decisions.map((d) => d.subtype[0].code);
const userAgent = (e: any) => e.agent.find((a: any) => a.who?.reference?.startsWith('Practitioner/'));

beforeAll(async () => {
  await setPolicy({ base: 'opt-out', hideDenied: false });
  [D, E] = await Promise.all([clinician('Denied'), clinician('Allowed')]);
  patient = await create({ resourceType: 'Patient', name: [{ family: FAMILY, given: ['Consent'] }] });
  open = await create({ resourceType: 'Patient', name: [{ family: FAMILY, given: ['Open'] }] });
  obs = await create(observation(patient));
  openObs = await create(observation(open));
  denial = await create(consent(patient, { type: 'permit', provision: [{ type: 'deny', actor: [actor(D.practitioner)] }] }));
});

describe('denials', () => {
  it('a read denied by a Consent: 403, and a denied record naming the Consent, the patient and the user (outcome 4)', async () => {
    const { res, records, decisions } = await call('GET', `Observation/${obs}`, D);
    expect(res.status).toBe(403);
    expect(records).toHaveLength(2); // the read's own record and the decision
    const rest = records.find((r) => r.subtype?.[0]?.code === 'read');
    expect(rest.outcome).toBe('4');
    expect(decisions).toHaveLength(1);
    const [d] = decisions;
    expect(d.type).toEqual({ system: DCM, code: '110113', display: 'Security Alert' });
    expect(d.subtype[0]).toMatchObject({ system: DECISION, code: 'denied' });
    expect(d.action).toBe('E');
    expect(d.outcome).toBe('4');
    expect(refsOf(d)).toContain(`Consent/${denial}`);
    expect(patientsOf(d)).toEqual([`Patient/${patient}`]);
    expect(d.outcomeDesc).toContain(`read Observation/${obs}`);
    expect(d.outcomeDesc).toContain(`Consent/${denial} provision.provision[0] (deny) of Patient/${patient}`);
    expect(userAgent(d).who.reference).toBe(D.practitioner);

    // found by the Consent, by the patient and by the kind
    const byConsent = await http('GET', `AuditEvent?entity=Consent/${denial}&subtype=${DECISION}|denied&_count=100`);
    expect(byConsent.status).toBe(200);
    expect(byConsent.body.entry.map((e: any) => e.resource.id)).toContain(d.id);
    const byPatient = await http('GET', `AuditEvent?patient=${patient}&type=${DCM}|110113&_count=100`);
    expect(byPatient.body.entry.map((e: any) => e.resource.id)).toContain(d.id);
  });

  it('vread, instance history and update of a denied resource are denied and audited each', async () => {
    const steps: [string, string, unknown][] = [
      ['GET', `Observation/${obs}/_history/1`, undefined],
      ['GET', `Observation/${obs}/_history`, undefined],
      ['PUT', `Observation/${obs}`, { ...observation(patient), id: obs, status: 'amended' }],
    ];
    for (const [method, path, body] of steps) {
      const { res, decisions } = await call(method, path, D, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(kinds(decisions), `${method} ${path}`).toEqual(['denied']);
      expect(refsOf(decisions[0])).toContain(`Consent/${denial}`);
    }
    // the update did not happen
    expect((await http('GET', `Observation/${obs}`)).body.status).toBe('final');
  });

  it('no decision record where consent decided nothing: allowed reads, unknown ids, ungoverned clients', async () => {
    const allowed = await call('GET', `Observation/${obs}`, E); // E is not the deny's actor
    expect(allowed.res.status).toBe(200);
    expect(allowed.records).toHaveLength(1);
    expect(allowed.decisions).toEqual([]);
    const other = await call('GET', `Observation/${openObs}`, D); // no consent on that patient
    expect(other.res.status).toBe(200);
    expect(other.decisions).toEqual([]);
    const unknown = await call('GET', 'Observation/no-such-observation', D);
    expect(unknown.res.status).toBe(404);
    expect(unknown.decisions).toEqual([]);
    const system = await call('GET', `Observation/${obs}`, undefined); // the bootstrap client: not governed
    expect(system.res.status).toBe(200);
    expect(system.decisions).toEqual([]);
  });
});

describe('filtered searches', () => {
  it('a search about a patient whose consent hid data leaves a filtered record (outcome 0) naming Consent and patient', async () => {
    for (const path of [`Observation?subject=Patient/${patient}&_total=accurate`, `Patient/${patient}/Observation?_total=accurate`]) {
      const { res, records, decisions } = await call('GET', path, D);
      expect(res.status, path).toBe(200);
      expect(res.body.total, path).toBe(0);
      expect(records, path).toHaveLength(2);
      expect(kinds(decisions), path).toEqual(['filtered']);
      const [f] = decisions;
      expect(f.outcome).toBe('0');
      expect(f.type.code).toBe('110113');
      expect(refsOf(f)).toContain(`Consent/${denial}`);
      expect(patientsOf(f)).toEqual([`Patient/${patient}`]);
      expect(f.outcomeDesc).toContain('results filtered by consent');
      expect(userAgent(f).who.reference).toBe(D.practitioner);
    }
  });

  it('no filtered record when nothing of the patient was hidden from the requester', async () => {
    const notActor = await call('GET', `Observation?subject=Patient/${patient}&_total=accurate`, E);
    expect(notActor.res.body.total).toBe(1);
    expect(notActor.decisions).toEqual([]);
    const noConsent = await call('GET', `Observation?subject=Patient/${open}&_total=accurate`, D);
    expect(noConsent.res.body.total).toBe(1);
    expect(noConsent.decisions).toEqual([]);
    const system = await call('GET', `Observation?subject=Patient/${patient}&_total=accurate`, undefined);
    expect(system.res.body.total).toBe(1);
    expect(system.decisions).toEqual([]);
  });
});

describe('break-the-glass', () => {
  let G: Clinician;
  let sealed: string; // a patient who denies everyone everything
  let sealedObs: string;
  let everyone: string;

  beforeAll(async () => {
    G = await clinician('Emergency');
    sealed = await create({ resourceType: 'Patient', name: [{ family: FAMILY, given: ['Sealed'] }] });
    sealedObs = await create(observation(sealed));
    everyone = await create(consent(sealed, { type: 'deny' }));
  });

  const start = (p: string, parameter: any[], who: Clinician | undefined) => call('POST', `Patient/${p}/$break-glass`, who, { resourceType: 'Parameters', parameter });
  const REASON = { name: 'reason', valueString: 'audit test: unresponsive patient in ED' };

  it('refused starts leave no break-glass-started record', async () => {
    const cases: [any[], Clinician | undefined, string, number][] = [
      [[{ name: 'reason', valueString: 'no' }], G, sealed, 400], // reason too short
      [[REASON, { name: 'purpose', valueCode: 'HRESCH' }], G, sealed, 400], // not an emergency purpose
      [[REASON], undefined, sealed, 403], // a client, not a user
      [[REASON], G, 'no-such-patient', 404],
    ];
    for (const [parameter, who, p, status] of cases) {
      const r = await start(p, parameter, who);
      expect(r.res.status, JSON.stringify(parameter)).toBe(status);
      expect(r.decisions, JSON.stringify(parameter)).toEqual([]);
    }
  });

  it('start, every access during the session, and the review are recorded with the session and the patient', async () => {
    // before: denied by the patient's consent, and audited as such
    const before = await call('GET', `Observation/${sealedObs}`, G);
    expect(before.res.status).toBe(403);
    expect(kinds(before.decisions)).toEqual(['denied']);
    expect(refsOf(before.decisions[0])).toContain(`Consent/${everyone}`);

    const started = await start(sealed, [REASON, { name: 'purpose', valueCode: 'ETREAT' }, { name: 'minutes', valueDecimal: 5 }], G);
    expect(started.res.status).toBe(201);
    const session = started.res.body.parameter[0].part.find((p: any) => p.name === 'id').valueString;
    expect(kinds(started.decisions)).toEqual(['break-glass-started']);
    const s = started.decisions[0];
    expect(s.subtype.map((c: any) => c.code)).toEqual(['break-glass-started', 'BTG']);
    expect(s.action).toBe('C');
    expect(s.outcome).toBe('0');
    expect(refsOf(s)).toContain(`urn:uuid:${session}`);
    expect(patientsOf(s)).toEqual([`Patient/${sealed}`]);
    expect(s.outcomeDesc).toContain(REASON.valueString);
    expect(userAgent(s).who.reference).toBe(G.practitioner);
    expect(userAgent(s).purposeOfUse.map((p: any) => p.coding[0].code)).toContain('ETREAT');

    // a read during the session: allowed, its own record carries BTG, and a break-glass-access record names the session
    const read = await call('GET', `Observation/${sealedObs}`, G);
    expect(read.res.status).toBe(200);
    expect(kinds(read.decisions)).toEqual(['break-glass-access']);
    expect(refsOf(read.decisions[0])).toContain(`urn:uuid:${session}`);
    expect(patientsOf(read.decisions[0])).toEqual([`Patient/${sealed}`]);
    const rest = read.records.find((r) => r.subtype?.[0]?.code === 'read');
    expect(rest.purposeOfEvent.map((p: any) => p.coding[0].code)).toContain('BTG');

    // a search during the session: access recorded, nothing reported as filtered
    const search = await call('GET', `Observation?subject=Patient/${sealed}&_total=accurate`, G);
    expect(search.res.body.total).toBe(1);
    expect(kinds(search.decisions)).toEqual(['break-glass-access']);

    // the session is G's alone: another user is still denied, without a break-glass record
    const bystander = await call('GET', `Observation/${sealedObs}`, E);
    expect(bystander.res.status).toBe(403);
    expect(kinds(bystander.decisions)).toEqual(['denied']);

    // every record of the session is found by it
    const bySession = await http('GET', `AuditEvent?entity=urn:uuid:${session}&_count=100`);
    expect(bySession.body.entry.map((e: any) => e.resource.subtype[0].code).sort()).toEqual(['break-glass-access', 'break-glass-access', 'break-glass-started']);

    const reviewed = await call('POST', '$break-glass-review', undefined, {
      resourceType: 'Parameters',
      parameter: [{ name: 'session', valueString: session }, { name: 'comment', valueString: 'justified: ED admission' }],
    });
    expect(reviewed.res.status).toBe(200);
    expect(kinds(reviewed.decisions)).toEqual(['break-glass-reviewed']);
    expect(reviewed.decisions[0].action).toBe('U');
    expect(refsOf(reviewed.decisions[0])).toContain(`urn:uuid:${session}`);
    expect(patientsOf(reviewed.decisions[0])).toEqual([`Patient/${sealed}`]);
    const unknown = await call('POST', '$break-glass-review', undefined, {
      resourceType: 'Parameters',
      parameter: [{ name: 'session', valueString: '00000000-0000-0000-0000-000000000000' }, { name: 'comment', valueString: 'x' }],
    });
    expect(unknown.res.status).toBe(404);
    expect(unknown.decisions).toEqual([]);
  });
});
