import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { createPatient, goldenOf, linksOf, operation, patient, refParam, uniqueBirthDate, uniqueName } from './mpi-support.js';

const SYS_A = 'urn:mpi-test:hospital-a';
const SYS_B = 'urn:mpi-test:clinic-b';
const MATCH_GRADE = 'http://hl7.org/fhir/StructureDefinition/match-grade';

describe('Patient/$match, $ihe-pix and $mpi-everything', () => {
  it('$match returns golden records ordered by score with search.score and match-grade', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const a = await createPatient({ given, family, birthDate, postalCode: '2600', gender: 'male' });
    const b = await createPatient({ given, family: family + 'a', birthDate, postalCode: '2600', gender: 'male' });
    // shares birth date, postcode and gender only: a possible candidate at most
    const c = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate, postalCode: '2600', gender: 'male' });
    const g = await goldenOf(a);
    expect(await goldenOf(b)).toBe(g);
    const gc = await goldenOf(c);

    const res = await operation('match', [{ name: 'resource', resource: patient({ given, family, birthDate, postalCode: '2600', gender: 'male' }) }]);
    expect(res.status, res.text).toBe(200);
    const bundle = res.body;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect(bundle.total).toBe(bundle.entry.length);
    const ids = bundle.entry.map((e: any) => e.resource.id);
    expect(ids[0]).toBe(g);
    expect(ids).toContain(gc);
    const scores = bundle.entry.map((e: any) => e.search.score);
    expect([...scores].sort((x: number, y: number) => y - x)).toEqual(scores);
    for (const e of bundle.entry) {
      expect(e.search.mode).toBe('match');
      expect(e.search.score).toBeGreaterThanOrEqual(0);
      expect(e.search.score).toBeLessThanOrEqual(1);
      expect(e.fullUrl).toMatch(new RegExp(`/Patient/${e.resource.id}$`));
      expect(e.resource.meta.tag).toContainEqual(expect.objectContaining({ code: 'golden' }));
    }
    const grade = (e: any) => e.search.extension.find((x: any) => x.url === MATCH_GRADE).valueCode;
    expect(grade(bundle.entry[0])).toBe('certain');
    expect(['probable', 'possible']).toContain(grade(bundle.entry.find((e: any) => e.resource.id === gc)));

    const certain = await operation('match', [
      { name: 'resource', resource: patient({ given, family, birthDate, postalCode: '2600', gender: 'male' }) },
      { name: 'onlyCertainMatches', valueBoolean: true },
    ]);
    expect(certain.body.entry.map((e: any) => e.resource.id)).toEqual([g]);
    const one = await operation('match', [
      { name: 'resource', resource: patient({ given, family, birthDate, postalCode: '2600', gender: 'male' }) },
      { name: 'count', valueInteger: 1 },
    ]);
    expect(one.body.entry).toHaveLength(1);

    expect((await operation('match', [{ name: 'resource', resource: { resourceType: 'Observation' } }])).status).toBe(400);
    expect((await operation('match', [])).status).toBe(400);
  });

  it('is listed in the CapabilityStatement with the other MPI operations', async () => {
    const cs = (await http('GET', 'metadata')).body;
    const ops = cs.rest[0].resource.find((r: any) => r.type === 'Patient').operation;
    expect(ops).toContainEqual({ name: 'match', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-match' });
    for (const name of ['ihe-pix', 'mpi-everything', 'mpi-queue', 'mpi-links', 'mpi-accept', 'mpi-reject', 'mpi-merge', 'mpi-unmerge', 'mpi-relink']) {
      expect(ops.map((o: any) => o.name)).toContain(name);
    }
    expect(cs.rest[0].operation.map((o: any) => o.name)).toContain('mpi-relink-status');
  });

  it('$ihe-pix answers every identifier of the same person, and $mpi-everything searches all their records', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const mrnA = uniqueName('a');
    const mrnB = uniqueName('b');
    const a = await createPatient({ given, family, birthDate, identifier: [{ system: SYS_A, value: mrnA }] });
    const b = await createPatient({ given, family, birthDate, identifier: [{ system: SYS_B, value: mrnB }] });
    const g = await goldenOf(a);
    expect(await goldenOf(b)).toBe(g);

    const pix = await http('GET', `Patient/$ihe-pix?sourceIdentifier=${encodeURIComponent(`${SYS_A}|${mrnA}`)}`);
    expect(pix.status, pix.text).toBe(200);
    expect(pix.body.parameter.filter((p: any) => p.name === 'targetIdentifier').map((p: any) => p.valueIdentifier)).toEqual([{ system: SYS_B, value: mrnB }]);
    expect(pix.body.parameter.filter((p: any) => p.name === 'targetId').map((p: any) => p.valueReference.reference).sort()).toEqual([`Patient/${a}`, `Patient/${b}`, `Patient/${g}`].sort());
    const filtered = await http('GET', `Patient/$ihe-pix?sourceIdentifier=${encodeURIComponent(`${SYS_B}|${mrnB}`)}&targetSystem=${encodeURIComponent(SYS_B)}`);
    expect(filtered.body.parameter.filter((p: any) => p.name === 'targetIdentifier')).toEqual([]);
    expect((await http('GET', `Patient/$ihe-pix?sourceIdentifier=${SYS_A}|nobody${mrnA}`)).status).toBe(404);
    expect((await http('GET', 'Patient/$ihe-pix')).status).toBe(400);

    const obs = (subject: string, code: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/${subject}` },
    });
    const o1 = (await http('POST', 'Observation', obs(a, '8867-4'))).body.id;
    const o2 = (await http('POST', 'Observation', obs(b, '8310-5'))).body.id;
    for (const via of [g, a]) {
      const all = await http('GET', `Patient/${via}/$mpi-everything?_type=Observation`);
      expect(all.status, all.text).toBe(200);
      expect(all.body.entry.map((e: any) => e.resource.id).sort()).toEqual([o1, o2].sort());
    }
    const one = await http('GET', `Patient/${g}/$mpi-everything?_type=Observation&code=8310-5`);
    expect(one.body.entry.map((e: any) => e.resource.id)).toEqual([o2]);
    const paged = await http('GET', `Patient/${g}/$mpi-everything?_type=Observation&_count=1`);
    const next = paged.body.link.find((l: any) => l.relation === 'next').url;
    expect(next).toContain(`/Patient/${g}/$mpi-everything?`);
    const page2 = await http('GET', next);
    expect(page2.body.entry).toHaveLength(1);
    expect([paged.body.entry[0].resource.id, page2.body.entry[0].resource.id].sort()).toEqual([o1, o2].sort());
  });

  it('relinks Patients in a background job that reports its progress, leaving MANUAL links alone', { timeout: 180_000 }, async () => {
    // a reviewer linked two records that automatic matching would keep apart
    const common = { birthDate: uniqueBirthDate(), postalCode: '5162', gender: 'female' as const };
    const a = await createPatient({ given: uniqueName('q'), family: uniqueName('w'), ...common });
    const b = await createPatient({ given: uniqueName('z'), family: uniqueName('x'), ...common });
    const ga = await goldenOf(a);
    expect(await goldenOf(b)).not.toBe(ga);
    expect((await operation('mpi-accept', [refParam('source', b), refParam('golden', ga)])).status).toBe(200);
    // only this test's records: a relink of everything would re-decide other tests' records while they run
    // (the accuracy benchmark relinks whole data sets)
    const kick = await http('POST', '$mpi-relink', { resourceType: 'Parameters', parameter: [refParam('patient', a), refParam('patient', b)] });
    expect(kick.status, kick.text).toBe(202);
    const statusUrl = kick.headers.get('content-location')!;
    let status = '';
    for (let i = 0; i < 600 && status !== 'done'; i++) {
      const s = await http('GET', statusUrl);
      expect(s.status).toBe(200);
      status = s.body.parameter.find((p: any) => p.name === 'status').valueCode;
      expect(status).not.toBe('failed');
      if (status !== 'done') await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe('done');
    const final = (await http('GET', statusUrl)).body.parameter;
    expect(final.find((p: any) => p.name === 'processed').valueInteger).toBe(2);
    expect((await http('GET', '$mpi-relink-status?job=99999999')).status).toBe(404);
    expect(await goldenOf(b)).toBe(ga);
    expect((await linksOf(b)).find((l) => l.state === 'MATCH')!.origin).toBe('MANUAL');
  });
});
