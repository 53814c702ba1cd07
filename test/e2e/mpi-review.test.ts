import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { createPatient, goldenOf, linksOf, operation, parseLinks, patient, refParam, uniqueBirthDate, uniqueName } from './mpi-support.js';

/** Two records that agree on birth date, postcode and gender but not on names: a possible match, not a match. */
async function possiblePair() {
  const birthDate = uniqueBirthDate();
  const common = { birthDate, postalCode: '5162', gender: 'female' as const };
  const a = await createPatient({ given: uniqueName('q'), family: uniqueName('w'), ...common });
  const b = await createPatient({ given: uniqueName('z'), family: uniqueName('x'), ...common });
  return { a, b, common };
}

describe('MPI: review queue, manual decisions, merge and unmerge', () => {
  it('queues a possible match with its score breakdown; accepting it makes a MANUAL match that automatic matching keeps', async () => {
    const { a, b } = await possiblePair();
    const ga = await goldenOf(a);
    const gb = await goldenOf(b);
    expect(gb).not.toBe(ga);
    const possible = (await linksOf(b)).find((l) => l.state === 'POSSIBLE_MATCH');
    expect(possible, JSON.stringify(await linksOf(b))).toMatchObject({ source: b, golden: ga, origin: 'AUTO' });
    expect(possible!.score).toBeGreaterThan(0.1);
    expect(possible!.score).toBeLessThan(0.9);
    expect(possible!.comparisons).toEqual(
      expect.arrayContaining([
        { name: 'birthDate', level: 'exact', weight: expect.any(Number) },
        { name: 'postcode', level: 'exact', weight: expect.any(Number) },
        { name: 'given', level: 'else', weight: expect.any(Number) },
        { name: 'identifier', level: 'null', weight: 0 },
      ]),
    );
    const queue = parseLinks((await http('GET', 'Patient/$mpi-queue?_count=500')).body);
    expect(queue.some((l) => l.source === b && l.golden === ga && l.state === 'POSSIBLE_MATCH')).toBe(true);

    const accepted = await operation('mpi-accept', [refParam('source', b), refParam('golden', ga)]);
    expect(accepted.status, accepted.text).toBe(200);
    expect(parseLinks(accepted.body)[0]).toMatchObject({ source: b, golden: ga, state: 'MATCH', origin: 'MANUAL' });
    expect((await http('GET', `Patient/${gb}`)).status).toBe(410); // b's own golden record had no source left
    expect((await http('GET', `Patient/${ga}`)).body.link).toHaveLength(2);

    // an update that would not match any more does not undo the reviewer's decision
    const upd = await http('PUT', `Patient/${b}`, { ...patient({ given: uniqueName(), family: uniqueName(), birthDate: uniqueBirthDate() }), id: b });
    expect(upd.status).toBe(200);
    expect((await linksOf(b)).find((l) => l.state === 'MATCH')).toMatchObject({ golden: ga, origin: 'MANUAL' });
  });

  it('rejecting a match is remembered: the source is never matched to that golden record again automatically', async () => {
    const given = uniqueName();
    const family = uniqueName();
    const birthDate = uniqueBirthDate();
    const a = await createPatient({ given, family, birthDate, postalCode: '3000' });
    const b = await createPatient({ given, family, birthDate, postalCode: '3000' });
    const ga = await goldenOf(a);
    expect(await goldenOf(b)).toBe(ga);
    const rejected = await operation('mpi-reject', [refParam('source', b), refParam('golden', ga)]);
    expect(rejected.status, rejected.text).toBe(200);
    expect(parseLinks(rejected.body)[0]).toMatchObject({ state: 'NO_MATCH', origin: 'MANUAL' });
    const gb = await goldenOf(b);
    expect(gb).not.toBe(ga);
    expect((await http('GET', `Patient/${ga}`)).body.link.map((l: any) => l.other.reference)).toEqual([`Patient/${a}`]);
    // the same data again: still not matched to ga
    expect((await http('PUT', `Patient/${b}`, { ...patient({ given, family, birthDate, postalCode: '3000' }), id: b })).status).toBe(200);
    expect(await goldenOf(b)).toBe(gb);
    expect((await linksOf(b)).find((l) => l.golden === ga)).toMatchObject({ state: 'NO_MATCH', origin: 'MANUAL' });
  });

  it('rejecting a possible match removes it from the queue for good', async () => {
    const { a, b, common } = await possiblePair();
    const ga = await goldenOf(a);
    expect((await operation('mpi-reject', [refParam('source', b), refParam('golden', ga)])).status).toBe(200);
    await http('PUT', `Patient/${b}`, { ...patient({ given: uniqueName('z'), family: uniqueName('x'), ...common }), id: b });
    const links = (await linksOf(b)).filter((l) => l.golden === ga);
    expect(links).toEqual([expect.objectContaining({ state: 'NO_MATCH', origin: 'MANUAL' })]);
    expect((await operation('mpi-reject', [refParam('source', b), refParam('golden', uniqueName())])).status).toBe(404);
  });

  it('merges two golden records (the loser redirects) and unmerges them', async () => {
    const { a, b } = await possiblePair();
    const ga = await goldenOf(a);
    const gb = await goldenOf(b);
    const merged = await operation('mpi-merge', [refParam('from', gb), refParam('into', ga)]);
    expect(merged.status, merged.text).toBe(200);
    expect(parseLinks(merged.body)[0]).toMatchObject({ source: gb, golden: ga, state: 'REDIRECT', origin: 'MANUAL' });
    expect((await linksOf(b)).find((l) => l.state === 'MATCH')).toMatchObject({ golden: ga, origin: 'MANUAL' });
    const loser = (await http('GET', `Patient/${gb}`)).body;
    expect(loser.active).toBe(false);
    expect(loser.link).toEqual([{ other: { reference: `Patient/${ga}` }, type: 'replaced-by' }]);
    const winner = (await http('GET', `Patient/${ga}`)).body;
    expect(winner.link).toContainEqual({ other: { reference: `Patient/${gb}` }, type: 'replaces' });
    expect(winner.link.filter((l: any) => l.type === 'seealso')).toHaveLength(2);
    // a retired record cannot be merged again
    expect((await operation('mpi-merge', [refParam('from', gb), refParam('into', ga)])).status).toBe(409);

    const unmerged = await operation('mpi-unmerge', [refParam('golden', gb)]);
    expect(unmerged.status, unmerged.text).toBe(200);
    expect(parseLinks(unmerged.body)[0]).toMatchObject({ source: gb, golden: ga, state: 'NO_MATCH', origin: 'MANUAL' });
    expect(await goldenOf(b)).toBe(gb);
    expect(await goldenOf(a)).toBe(ga);
    expect((await http('GET', `Patient/${gb}`)).body).toMatchObject({ active: true, link: [{ other: { reference: `Patient/${b}` }, type: 'seealso' }] });
    expect((await http('GET', `Patient/${ga}`)).body.link).toEqual([{ other: { reference: `Patient/${a}` }, type: 'seealso' }]);
    expect((await operation('mpi-unmerge', [refParam('golden', gb)])).status).toBe(404);
  });

  it('answers bad review requests with OperationOutcomes', async () => {
    const a = await createPatient({ given: uniqueName(), family: uniqueName(), birthDate: uniqueBirthDate() });
    const bad = await operation('mpi-accept', [refParam('source', a)]);
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
    const notGolden = await operation('mpi-accept', [refParam('source', a), refParam('golden', a)]);
    expect(notGolden.status).toBe(404);
    const self = await operation('mpi-merge', [refParam('from', await goldenOf(a)), refParam('into', await goldenOf(a))]);
    expect(self.status).toBe(400);
  });
});
