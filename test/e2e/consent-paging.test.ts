import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { clinician, consent, create, LOINC, type Clinician } from './consent-support.js';

/**
 * Consent is decided on the rows a page walks, after the matches are put in page order (not on every match):
 * pages must still be full, in order, without gaps or repeats, and totals exact. Two patients, each with
 * observations of one code whose dates alternate between 2010 and 2020; patient A's Consent denies data before
 * 2015, so every other of A's observations is hidden from practitioner B, and all of P's stay visible.
 */
let B: Clinician;
let code: string;
const visible: string[] = [];
const hidden: string[] = [];

beforeAll(async () => {
  // the base policy is the default opt-out (not set here: test files run in parallel against one hub)
  B = await clinician('Pager');
  code = `paging-${randomUUID().slice(0, 8)}`;
  const a = await create({ resourceType: 'Patient', name: [{ family: 'Paged' }] });
  const p = await create({ resourceType: 'Patient', name: [{ family: 'Open' }] });
  await create(consent(a, { type: 'permit', provision: [{ type: 'deny', dataPeriod: { end: '2015-01-01' } }] }));
  for (let i = 0; i < 12; i++) {
    // created one by one: rid order is creation order; dates alternate so hidden rows sit between visible ones
    const patient = i % 3 === 2 ? p : a;
    const date = i % 2 ? `2020-01-${String(10 + i).padStart(2, '0')}` : `2010-01-${String(10 + i).padStart(2, '0')}`;
    const id = await create({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code }] }, subject: { reference: `Patient/${patient}` }, effectiveDateTime: date });
    (patient === a && date < '2015' ? hidden : visible).push(id);
  }
});

/** Every page of a search, following the next links; the ids in order, the page sizes and the first page's total. */
async function walk(query: string): Promise<{ ids: string[]; sizes: number[]; total?: number }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  let url: string | undefined = query;
  let total: number | undefined;
  for (let i = 0; url && i < 20; i++) {
    const res = await http('GET', url, undefined, B.headers);
    expect(res.status).toBe(200);
    if (i === 0) total = res.body.total;
    const page = (res.body.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource.id);
    ids.push(...page);
    sizes.push(page.length);
    url = res.body.link?.find((l: any) => l.relation === 'next')?.url;
  }
  return { ids, sizes, total };
}

describe('paging under consent', () => {
  it('the setup hides some observations between visible ones', () => {
    expect(hidden.length).toBeGreaterThan(2);
    expect(visible.length).toBeGreaterThan(4);
  });

  it('pages in rid order are full, complete and exact, with the accurate total', async () => {
    const r = await walk(`Observation?code=${LOINC}|${code}&_count=2&_total=accurate`);
    expect(r.ids).toEqual(visible);
    expect(r.total).toBe(visible.length);
    expect(r.sizes.slice(0, -1).every((n) => n === 2)).toBe(true);
  });

  it('pages sorted by date (read in index order) skip the hidden rows the same way, both directions', async () => {
    const byDate = [...visible];
    const asc = await walk(`Observation?code=${LOINC}|${code}&_count=3&_sort=date&_total=accurate`);
    expect(asc.total).toBe(visible.length);
    expect(new Set(asc.ids)).toEqual(new Set(byDate));
    expect(asc.ids.length).toBe(byDate.length);
    expect(asc.sizes.slice(0, -1).every((n) => n === 3)).toBe(true);
    const desc = await walk(`Observation?code=${LOINC}|${code}&_count=3&_sort=-date`);
    expect(desc.ids).toEqual([...asc.ids].reverse());
  });

  it('a search that hides everything on the first candidates still fills the page from later ones', async () => {
    // the first two matches in rid order belong to A and the first of them is hidden
    const r = await walk(`Observation?code=${LOINC}|${code}&_count=1`);
    expect(r.ids).toEqual(visible);
    expect(r.sizes.every((n) => n === 1)).toBe(true);
  });

  it('a search that fails before its statement answers its own error (OperationOutcome), not a 500', async () => {
    const res = await http('GET', `Observation?code=${LOINC}|${code}&date=not-a-date`, undefined, { ...B.headers, prefer: 'handling=strict' });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('_summary=count counts only what the requester may see', async () => {
    const res = await http('GET', `Observation?code=${LOINC}|${code}&_summary=count`, undefined, B.headers);
    expect(res.body.total).toBe(visible.length);
  });
});
