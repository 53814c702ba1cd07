import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { createPatient, goldenOf, linksOf, operation, patient, refParam, uniqueBirthDate, uniqueName } from './mpi-support.js';

const SYS = 'urn:mpi-test:mrn';

/** Two records of one person (names, birth date, identifier agree) and everything the MPI derives from them. */
describe('MPI: automatic matching and golden records', () => {
  it('links two records of one person to one golden record built by survivorship', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const mrn = uniqueName('mrn');
    const a = await createPatient({ given, family, birthDate, gender: 'female', identifier: [{ system: SYS, value: mrn }], postalCode: '4011', line: '6 Tullaroop Street' });
    const b = await createPatient({ given, family: family.slice(0, -1) + 'e', birthDate, gender: 'female', identifier: [{ system: `${SYS}-b`, value: mrn }], phone: '+61 2 9999 0000', line: '6 Tullaroop St' });
    const ga = await goldenOf(a);
    expect(await goldenOf(b)).toBe(ga);
    const link = (await linksOf(b)).find((l) => l.source === b && l.state === 'MATCH')!;
    expect(link.origin).toBe('AUTO');
    expect(link.score).toBeGreaterThanOrEqual(0.9);
    expect(link.comparisons.find((c) => c.name === 'birthDate')).toMatchObject({ level: 'exact' });
    expect(link.comparisons.find((c) => c.name === 'family')!.level).toMatch(/^jw/);

    const golden = (await http('GET', `Patient/${ga}`)).body;
    expect(golden.meta.tag).toContainEqual(expect.objectContaining({ system: 'http://hie-hub.dev/mpi', code: 'golden' }));
    expect(golden.identifier.map((i: any) => i.system).sort()).toEqual([SYS, `${SYS}-b`]);
    expect(golden.link.map((l: any) => [l.other.reference, l.type]).sort()).toEqual([[`Patient/${a}`, 'seealso'], [`Patient/${b}`, 'seealso']].sort());
    expect(golden.telecom).toEqual([{ system: 'phone', value: '+61 2 9999 0000' }]);
    expect(golden.birthDate).toBe(birthDate);
    expect(golden.address[0].postalCode).toBe('4011'); // the more complete address survives

    // golden records stay out of demographic searches and conditional matches
    const found = await http('GET', `Patient?given=${given}`);
    expect(found.body.entry.map((e: any) => e.resource.id).sort()).toEqual([a, b].sort());
    const byTag = await http('GET', `Patient?_tag=http://hie-hub.dev/mpi|golden&link=Patient/${a}`);
    expect(byTag.body.entry.map((e: any) => e.resource.id)).toEqual([ga]);
  });

  it('gives a different person their own golden record', async () => {
    const birthDate = uniqueBirthDate();
    const a = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate });
    const b = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate });
    expect(await goldenOf(a)).not.toBe(await goldenOf(b));
  });

  it('keeps golden records read-only to clients', async () => {
    const a = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate: uniqueBirthDate() });
    const g = await goldenOf(a);
    const golden = (await http('GET', `Patient/${g}`)).body;
    const put = await http('PUT', `Patient/${g}`, { ...golden, gender: 'other' });
    expect(put.status).toBe(403);
    expect(put.body.resourceType).toBe('OperationOutcome');
    const patch = await http('PATCH', `Patient/${g}`, [{ op: 'add', path: '/gender', value: 'other' }], { 'content-type': 'application/json-patch+json' });
    expect(patch.status).toBe(403);
    expect((await http('DELETE', `Patient/${g}`)).status).toBe(403);
    const fake = await http('POST', 'Patient', { ...patient({ given: uniqueName() }), meta: { tag: [{ system: 'http://hie-hub.dev/mpi', code: 'golden' }] } });
    expect(fake.status).toBe(403);
    // nothing changed
    expect((await http('GET', `Patient/${g}`)).body.meta.versionId).toBe(golden.meta.versionId);
  });

  it('moves an updated source to the right golden record and retires the one left empty', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const a = await createPatient({ given, family, birthDate, postalCode: '2000' });
    const b = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate: uniqueBirthDate() });
    const ga = await goldenOf(a);
    const gb = await goldenOf(b);
    expect(gb).not.toBe(ga);
    // b was mistyped at registration; corrected, it is the same person as a
    const upd = await http('PUT', `Patient/${b}`, { ...patient({ given, family, birthDate, postalCode: '2000' }), id: b });
    expect(upd.status).toBe(200);
    expect(await goldenOf(b)).toBe(ga);
    expect((await http('GET', `Patient/${gb}`)).status).toBe(410);
    // deleting a source refreshes its golden record
    expect((await http('DELETE', `Patient/${b}`)).status).toBe(204);
    const golden = (await http('GET', `Patient/${ga}`)).body;
    expect(golden.link.map((l: any) => l.other.reference)).toEqual([`Patient/${a}`]);
    expect(await linksOf(b)).toEqual([]);
  });

  it('moves a source that now only possibly matches its golden record to a new one, keeping the old as POSSIBLE_MATCH', async () => {
    const common = { birthDate: uniqueBirthDate(), postalCode: '2480', gender: 'male' as const };
    const given = uniqueName();
    const family = uniqueName();
    const a = await createPatient({ given, family, ...common });
    const s = await createPatient({ given, family, ...common });
    const g = await goldenOf(a);
    expect(await goldenOf(s)).toBe(g);
    const upd = await http('PUT', `Patient/${s}`, { ...patient({ given: uniqueName('q'), family: uniqueName('w'), ...common }), id: s });
    expect(upd.status, upd.text).toBe(200);
    const links = await linksOf(s);
    const match = links.find((l) => l.source === s && l.state === 'MATCH')!;
    expect(match.golden).not.toBe(g);
    expect(links.find((l) => l.source === s && l.golden === g)).toMatchObject({ state: 'POSSIBLE_MATCH', origin: 'AUTO' });
    expect((await http('GET', `Patient/${g}`)).body.link).toEqual([{ other: { reference: `Patient/${a}` }, type: 'seealso' }]);
  });

  it('matches Patients of a transaction in the same transaction, and a failed transaction leaves no trace', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const mrn = uniqueName('tx');
    const entry = (p: any) => ({ resource: p, request: { method: 'POST', url: 'Patient' } });
    const ok = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [entry(patient({ given, family, birthDate, identifier: [{ system: SYS, value: mrn }] })), entry(patient({ given, family, birthDate, identifier: [{ system: SYS, value: mrn }] }))],
    });
    expect(ok.status, ok.text).toBe(200);
    const [a, b] = ok.body.entry.map((e: any) => e.response.location.split('/')[1]);
    expect(await goldenOf(a)).toBe(await goldenOf(b));

    const lostMrn = uniqueName('lost');
    const lostGiven = uniqueName();
    const failed = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [entry(patient({ given: lostGiven, family, birthDate, identifier: [{ system: SYS, value: lostMrn }] })), entry({ resourceType: 'Patient', gender: 'not-a-gender' })],
    });
    expect(failed.status).toBe(400);
    expect((await http('GET', `Patient/$ihe-pix?sourceIdentifier=${SYS}|${lostMrn}`)).status).toBe(404);
    const m = await operation('match', [{ name: 'resource', resource: patient({ given: lostGiven, family: uniqueName(), birthDate: uniqueBirthDate() }) }]);
    expect(m.body.total).toBe(0);
  });

  it('flags two golden records a new record matches both of as possible duplicates', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    // two records that share the name but disagree on birth date and gender (not one person) ...
    const a = await createPatient({ given, family, gender: 'male', birthDate: uniqueBirthDate(), identifier: [{ system: SYS, value: uniqueName('d1') }] });
    const b = await createPatient({ given, family, gender: 'female', birthDate, postalCode: '7000' });
    expect(await goldenOf(a)).not.toBe(await goldenOf(b));
    // ... and one that matches each of them on its own
    const mrn = (await http('GET', `Patient/${a}`)).body.identifier[0].value;
    const c = await createPatient({ given, family, birthDate, postalCode: '7000', identifier: [{ system: SYS, value: mrn }] });
    const gc = await goldenOf(c);
    const other = [await goldenOf(a), await goldenOf(b)].find((g) => g !== gc)!;
    const dup = (await linksOf(gc)).find((l) => l.state === 'POSSIBLE_DUPLICATE');
    expect(dup, JSON.stringify(await linksOf(gc))).toBeDefined();
    expect([dup!.source, dup!.golden].sort()).toEqual([gc, other].sort());
    const queue = await http('GET', 'Patient/$mpi-queue?_count=500');
    expect(queue.status).toBe(200);
    expect(queue.body.parameter.some((l: any) => l.part.some((p: any) => p.name === 'state' && p.valueCode === 'POSSIBLE_DUPLICATE'))).toBe(true);

    // a reviewer says they are two people: NO_MATCH between the golden records, never flagged again
    const rejected = await operation('mpi-reject', [refParam('source', dup!.source), refParam('golden', dup!.golden)]);
    expect(rejected.status, rejected.text).toBe(200);
    const d = await createPatient({ given, family, birthDate, postalCode: '7000', identifier: [{ system: SYS, value: mrn }] });
    expect([await goldenOf(a), await goldenOf(b)]).toContain(await goldenOf(d));
    const between = (await linksOf(gc)).filter((l) => [l.source, l.golden].sort().join() === [gc, other].sort().join());
    expect(between).toEqual([expect.objectContaining({ state: 'NO_MATCH', origin: 'MANUAL' })]);
  });
});

describe('MPI: concurrent writes', () => {
  it('gives concurrent records of one new person one golden record (group-committed creates)', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => createPatient({ given, family, birthDate, identifier: [{ system: `${SYS}-${i}`, value: given }] })));
    const goldens = new Set(await Promise.all(ids.map(goldenOf)));
    expect(goldens.size).toBe(1);
    const golden = (await http('GET', `Patient/${[...goldens][0]}`)).body;
    expect(golden.link).toHaveLength(6);
    expect(golden.identifier).toHaveLength(6);
  });
});
