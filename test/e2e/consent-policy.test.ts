import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { actor, clinician, consent, create, LOINC, searchAs, setPolicy, SNOMED, type Clinician } from './consent-support.js';

/**
 * The consent policy matrix: base policy × actor × purpose × data class × security label × period, for read,
 * search (totals and pages), _include/_revinclude and history. Data is created by the system client (no
 * organization); two practitioners A and B read it with their own user tokens.
 */
let A: Clinician;
let B: Clinician;
let patient: string;
let obs2020: string;
let obs2024: string;
let depression: string;

const observation = (date: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: date,
  valueQuantity: { value: 70, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

async function withConsent<T>(resource: any, fn: () => Promise<T>): Promise<T> {
  const id = await create(resource);
  try {
    return await fn();
  } finally {
    const del = await http('DELETE', `Consent/${id}`);
    expect(del.status).toBe(204);
  }
}

beforeAll(async () => {
  await setPolicy({ base: 'opt-out', hideDenied: false });
  [A, B] = await Promise.all([clinician('Alpha'), clinician('Beta')]);
  patient = await create({ resourceType: 'Patient', name: [{ family: 'Consentia', given: ['Matrix'] }], birthDate: '1980-02-02' });
  obs2020 = await create(observation('2020-05-01T10:00:00Z'));
  obs2024 = await create(observation('2024-03-01T10:00:00Z'));
  depression = await create({
    resourceType: 'Condition',
    subject: { reference: `Patient/${patient}` },
    code: { coding: [{ system: SNOMED, code: '370143000', display: 'Major depressive disorder' }] },
    onsetDateTime: '2021-01-01',
  });
});

describe('sensitivity labels on write', () => {
  it('labels a Condition with a mental-health code PSY, and leaves others unlabelled', async () => {
    const c = await http('GET', `Condition/${depression}`);
    expect(c.body.meta.security).toEqual([expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' })]);
    const o = await http('GET', `Observation/${obs2020}`);
    expect(o.body.meta.security).toBeUndefined();
    const found = await http('GET', `Condition?_security=PSY&subject=Patient/${patient}`);
    expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([depression]);
  });
});

describe('opt-out base policy', () => {
  it('without a consent, another practitioner sees everything', async () => {
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
    expect((await http('GET', `Condition/${depression}`, undefined, B.headers)).status).toBe(200);
  });

  it('a deny on a security label hides labelled data from read, search and _revinclude, and says which Consent', async () => {
    const c = consent(patient, { type: 'permit', provision: [{ type: 'deny', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] }] });
    const id = await create(c);
    try {
      const read = await http('GET', `Condition/${depression}`, undefined, B.headers);
      expect(read.status).toBe(403);
      expect(read.body.resourceType).toBe('OperationOutcome');
      expect(read.body.issue[0].diagnostics).toContain(`Consent/${id} provision.provision[0]`);
      expect((await searchAs(B, `Condition?subject=Patient/${patient}`)).total).toBe(0);
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
      const rev = await searchAs(B, `Patient?_id=${patient}&_revinclude=Condition:subject`);
      expect(rev.ids).toEqual([`Patient/${patient}`]);
      expect((await http('GET', `Condition/${depression}/_history`, undefined, B.headers)).status).toBe(403);
      expect((await http('GET', `Condition/${depression}/_history/1`, undefined, B.headers)).status).toBe(403);
      // the system client is not governed by consent
      expect((await http('GET', `Condition/${depression}`)).status).toBe(200);
      // the very next request after an edit is decided by the new rules
      const edited = await http('PUT', `Consent/${id}`, { ...c, id, provision: { type: 'permit' } });
      expect(edited.status).toBe(200);
      expect((await http('GET', `Condition/${depression}`, undefined, B.headers)).status).toBe(200);
      const revAll = await searchAs(B, `Patient?_id=${patient}&_revinclude=Condition:subject`);
      expect(revAll.ids.sort()).toEqual([`Condition/${depression}`, `Patient/${patient}`].sort());
    } finally {
      await http('DELETE', `Consent/${id}`);
    }
  });

  it('an actor-specific deny with a more specific permit for a data period: the deepest provision wins', async () => {
    const c = consent(patient, {
      type: 'permit',
      provision: [
        {
          type: 'deny',
          actor: [actor(B.practitioner)],
          class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }],
          provision: [{ type: 'permit', dataPeriod: { start: '2024-01-01', end: '2024-12-31' } }],
        },
      ],
    });
    await withConsent(c, async () => {
      const b = await searchAs(B, `Observation?subject=Patient/${patient}`);
      expect(b.total).toBe(1);
      expect(b.ids).toEqual([`Observation/${obs2024}`]);
      expect((await http('GET', `Observation/${obs2020}`, undefined, B.headers)).status).toBe(403);
      expect((await http('GET', `Observation/${obs2024}`, undefined, B.headers)).status).toBe(200);
      // A is not the actor of the deny
      expect((await searchAs(A, `Observation?subject=Patient/${patient}`)).total).toBe(2);
      // paging keeps the filtered total: one per page, one page only
      const page = await searchAs(B, `Observation?subject=Patient/${patient}&_count=1`);
      expect(page.total).toBe(1);
      expect(page.body.link.some((l: any) => l.relation === 'next')).toBe(false);
    });
  });

  it('deny beats permit at the same depth', async () => {
    const c = consent(patient, {
      type: 'permit',
      provision: [
        { type: 'permit', actor: [actor(B.practitioner)] },
        { type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] },
      ],
    });
    await withConsent(c, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);
      expect((await searchAs(B, `Condition?subject=Patient/${patient}`)).total).toBe(1);
    });
  });

  it('a resource also in another patient’s compartment follows that patient’s consent too, in a search naming a patient without one', async () => {
    const named = await create({ resourceType: 'Patient', name: [{ family: 'Consentia', given: ['Named'] }] });
    const other = await create({ resourceType: 'Patient', name: [{ family: 'Consentia', given: ['Other'] }] });
    const own = await create({ ...observation('2022-01-01T10:00:00Z'), subject: { reference: `Patient/${named}` } });
    // performer is a Patient compartment parameter of Observation: this one is in both patients' compartments
    const shared = await create({ ...observation('2022-02-01T10:00:00Z'), subject: { reference: `Patient/${named}` }, performer: [{ reference: `Patient/${other}` }] });
    await withConsent(consent(other, { type: 'deny', actor: [actor(B.practitioner)] }), async () => {
      for (let i = 0; i < 2; i++) {
        // twice: the first search reads the requester's facts in its statement, the next one decides with kept facts
        const b = await searchAs(B, `Observation?subject=Patient/${named}`);
        expect(b).toMatchObject({ total: 1, ids: [`Observation/${own}`] });
      }
      expect((await searchAs(B, `Patient/${named}/Observation`)).ids).toEqual([`Observation/${own}`]);
      expect((await searchAs(B, `Patient?_id=${named}&_revinclude=Observation:subject`)).ids).toEqual([`Patient/${named}`, `Observation/${own}`]);
      expect((await http('GET', `Observation/${shared}`, undefined, B.headers)).status).toBe(403);
      // the deny is B's only
      expect((await searchAs(A, `Observation?subject=Patient/${named}`)).total).toBe(2);
    });
    expect((await searchAs(B, `Observation?subject=Patient/${named}`)).total).toBe(2);
  });

  it('provisions outside their period and inactive consents do not apply', async () => {
    const past = consent(patient, { type: 'deny', period: { start: '2001-01-01', end: '2002-01-01' } });
    await withConsent(past, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
    });
    const draft = consent(patient, { type: 'deny' }, { status: 'draft' });
    await withConsent(draft, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
    });
  });

  it('an undeclared purpose of use is matched by deny provisions of any purpose, never by permits', async () => {
    const research = consent(patient, { type: 'permit', provision: [{ type: 'deny', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH' }] }] });
    await withConsent(research, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);
    });
    const treatOnly = consent(patient, { type: 'deny', provision: [{ type: 'permit', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] }] });
    await withConsent(treatOnly, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);
    });
  });

  it('a denied user cannot update or delete, and conditional writes do not see what is denied', async () => {
    const c = consent(patient, { type: 'permit', provision: [{ type: 'deny', actor: [actor(B.practitioner)] }] });
    await withConsent(c, async () => {
      const current = (await http('GET', `Observation/${obs2020}`)).body;
      expect((await http('PUT', `Observation/${obs2020}`, { ...current, status: 'amended' }, B.headers)).status).toBe(403);
      expect((await http('DELETE', `Observation/${obs2020}`, undefined, B.headers)).status).toBe(403);
      const cond = await http('DELETE', `Observation?_id=${obs2020}`, undefined, B.headers);
      expect(cond.status).toBe(204);
      expect(cond.headers.get('x-deleted-count')).toBe('0');
      expect((await http('GET', `Observation/${obs2020}`)).status).toBe(200);
    });
  });

  it('a Consent written in a transaction Bundle takes effect with it, and not at all when the Bundle fails', async () => {
    const deny = consent(patient, { type: 'deny', actor: [actor(B.practitioner)] });
    const failing = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: deny, request: { method: 'POST', url: 'Consent' } },
        { resource: { resourceType: 'Observation', status: 'not-a-status', code: {} }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(failing.status).toBe(400);
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
    const ok = await http('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: deny, request: { method: 'POST', url: 'Consent' } }] });
    expect(ok.status).toBe(200);
    const id = ok.body.entry[0].response.location.split('/')[1];
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(0);
    expect((await http('DELETE', `Consent/${id}`)).status).toBe(204);
    expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).total).toBe(2);
  });

  it('provision.data denies one resource and what refers to it', async () => {
    const c = consent(patient, { type: 'permit', provision: [{ type: 'deny', data: [{ meaning: 'instance', reference: { reference: `Observation/${obs2020}` } }] }] });
    await withConsent(c, async () => {
      expect((await searchAs(B, `Observation?subject=Patient/${patient}`)).ids).toEqual([`Observation/${obs2024}`]);
    });
  });

  it('history of a whole type is refused to governed users; hidden denials answer 404', async () => {
    expect((await http('GET', 'Observation/_history', undefined, B.headers)).status).toBe(403);
    const c = consent(patient, { type: 'deny' });
    await withConsent(c, async () => {
      await setPolicy({ hideDenied: true });
      try {
        const read = await http('GET', `Observation/${obs2020}`, undefined, B.headers);
        expect(read.status).toBe(404);
        expect(read.body.resourceType).toBe('OperationOutcome');
      } finally {
        await setPolicy({ hideDenied: false });
      }
      expect((await http('GET', `Observation/${obs2020}`, undefined, B.headers)).status).toBe(403);
    });
  });
});

describe('organizations: actors and ownership', () => {
  it('a deny for an organization applies to its practitioners; what an organization wrote stays visible to it', async () => {
    const orgX = `Organization/${await create({ resourceType: 'Organization', name: 'Clinic X' })}`;
    const orgY = `Organization/${await create({ resourceType: 'Organization', name: 'Clinic Y' })}`;
    const [X, Y] = await Promise.all([clinician('Xavier', orgX), clinician('Yvonne', orgY)]);
    // X writes an observation (a client's own writing-organization tag is replaced by the hub's)
    const written = await http('POST', 'Observation', { ...observation('2025-06-01T00:00:00Z'), meta: { tag: [{ system: 'urn:hie-hub:writing-organization', code: orgY }] } }, X.headers);
    expect(written.status).toBe(201);
    expect(written.body.meta.tag).toEqual([{ system: 'urn:hie-hub:writing-organization', code: orgX }]);
    const mine = written.body.id;
    const c = consent(patient, { type: 'deny', actor: [actor(orgX)] });
    await withConsent(c, async () => {
      const x = await searchAs(X, `Observation?subject=Patient/${patient}`);
      expect(x.ids).toEqual([`Observation/${mine}`]);
      expect((await http('GET', `Observation/${obs2020}`, undefined, X.headers)).status).toBe(403);
      expect((await http('GET', `Observation/${mine}`, undefined, X.headers)).status).toBe(200);
      expect((await searchAs(Y, `Observation?subject=Patient/${patient}`)).total).toBe(3);
    });
    const all = await withConsent(consent(patient, { type: 'deny' }), () => searchAs(Y, `Observation?subject=Patient/${patient}`));
    expect(all.total).toBe(0);
    expect((await http('DELETE', `Observation/${mine}`)).status).toBe(204);
  });
});

describe('opt-in base policy', () => {
  it('shares nothing without a permit, and exactly what a permit allows', async () => {
    const permitA = consent(patient, { type: 'permit', actor: [actor(A.practitioner)], provision: [{ type: 'deny', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] }] });
    const id = await create(permitA);
    await setPolicy({ base: 'opt-in' });
    try {
      const [b, a, aCond, bRead, bPatient] = await Promise.all([
        searchAs(B, `Observation?subject=Patient/${patient}`),
        searchAs(A, `Observation?subject=Patient/${patient}`),
        searchAs(A, `Condition?subject=Patient/${patient}`),
        http('GET', `Observation/${obs2024}`, undefined, B.headers),
        http('GET', `Patient/${patient}`, undefined, B.headers),
      ]);
      expect(b.total).toBe(0);
      expect(a.total).toBe(2);
      expect(aCond.total).toBe(0);
      expect(bRead.status).toBe(403);
      expect(bRead.body.issue[0].diagnostics).toContain('base policy opt-in');
      expect(bPatient.status).toBe(403);
    } finally {
      await setPolicy({ base: 'opt-out' });
      await http('DELETE', `Consent/${id}`);
    }
  });
});
