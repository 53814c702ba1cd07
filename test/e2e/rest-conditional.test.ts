import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';
import { describe, expect, it } from 'vitest';
import { fhirBase, http, authHeader } from '../support/hub.js';

/**
 * Interactions that need search (src/fhir/search: matchIds and search): conditional create/update/delete/patch,
 * conditional references and If-None-Exist in transactions, search and paging through fhir-kit-client, and
 * $validate against a profile the hub does not know (looked up among stored StructureDefinitions by url).
 */

const uid = () => randomUUID().slice(0, 8);
/** A fresh identifier system per test, so matches only ever see this test's resources. */
const system = () => `urn:test:conditional:${uid()}`;
const patient = (sys: string, value: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system: sys, value }],
  name: [{ family: `Cond-${value}` }],
  ...extra,
});
const q = (sys: string, value: string) => `identifier=${encodeURIComponent(`${sys}|${value}`)}`;
const idFromLocation = (location: string) => location.split('/_history/')[0].split('/').at(-1)!;

describe('conditional create (If-None-Exist)', () => {
  it('creates when nothing matches, returns the match when one does, 412 when several do', async () => {
    const sys = system();
    const first = await http('POST', 'Patient', patient(sys, 'a'), { 'if-none-exist': q(sys, 'a') });
    expect(first.status, first.text.slice(0, 300)).toBe(201);
    const again = await http('POST', 'Patient', patient(sys, 'a', { gender: 'male' }), { 'if-none-exist': q(sys, 'a') });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.gender).toBeUndefined(); // the existing resource, unchanged
    expect((await http('GET', `Patient/${first.body.id}`)).body.meta.versionId).toBe('1');

    await http('POST', 'Patient', patient(sys, 'b'));
    await http('POST', 'Patient', patient(sys, 'b'));
    const many = await http('POST', 'Patient', patient(sys, 'b'), { 'if-none-exist': q(sys, 'b') });
    expect(many.status).toBe(412);
    expect(many.body.resourceType).toBe('OperationOutcome');
  });

  it('serialises concurrent conditional creates with the same criteria: exactly one is created', async () => {
    const sys = system();
    const results = await Promise.all(Array.from({ length: 10 }, () => http('POST', 'Patient', patient(sys, 'race'), { 'if-none-exist': q(sys, 'race') })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(9);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });
});

describe('conditional update', () => {
  it('creates when nothing matches, updates the single match, 412 on several', async () => {
    const sys = system();
    const created = await http('PUT', `Patient?${q(sys, 'u')}`, patient(sys, 'u'));
    expect(created.status, created.text.slice(0, 300)).toBe(201);
    const updated = await http('PUT', `Patient?${q(sys, 'u')}`, patient(sys, 'u', { gender: 'female' }));
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(created.body.id);
    expect(updated.body.meta.versionId).toBe('2');
    expect((await http('GET', `Patient/${created.body.id}`)).body.gender).toBe('female');

    // a body id that differs from the match is refused
    expect((await http('PUT', `Patient?${q(sys, 'u')}`, { ...patient(sys, 'u'), id: 'someone-else' })).status).toBe(400);

    await http('POST', 'Patient', patient(sys, 'm'));
    await http('POST', 'Patient', patient(sys, 'm'));
    const many = await http('PUT', `Patient?${q(sys, 'm')}`, patient(sys, 'm'));
    expect(many.status).toBe(412);
  });
});

describe('conditional delete', () => {
  it('deletes the single match, or every match, and reports nothing to delete with 204', async () => {
    const sys = system();
    const one = (await http('POST', 'Patient', patient(sys, 'one'))).body;
    expect((await http('DELETE', `Patient?${q(sys, 'one')}`)).status).toBe(204);
    expect((await http('GET', `Patient/${one.id}`)).status).toBe(410);

    const several = await Promise.all([1, 2, 3].map(() => http('POST', 'Patient', patient(sys, 'many'))));
    const other = (await http('POST', 'Patient', patient(sys, 'keep'))).body;
    const res = await http('DELETE', `Patient?${q(sys, 'many')}`);
    expect(res.status).toBe(204);
    for (const p of several) expect((await http('GET', `Patient/${p.body.id}`)).status).toBe(410);
    expect((await http('GET', `Patient/${other.id}`)).status).toBe(200);

    expect((await http('DELETE', `Patient?${q(sys, 'nobody')}`)).status).toBe(204);
  });
});

describe('conditional patch', () => {
  it('patches the single match; 404 without one; 412 with several', async () => {
    const sys = system();
    const p = (await http('POST', 'Patient', patient(sys, 'p'))).body;
    const ops = [{ op: 'add', path: '/gender', value: 'other' }];
    const res = await http('PATCH', `Patient?${q(sys, 'p')}`, ops, { 'content-type': 'application/json-patch+json' });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(p.id);
    expect(res.body.gender).toBe('other');
    expect((await http('PATCH', `Patient?${q(sys, 'none')}`, ops, { 'content-type': 'application/json-patch+json' })).status).toBe(404);
    await http('POST', 'Patient', patient(sys, 'p'));
    expect((await http('PATCH', `Patient?${q(sys, 'p')}`, ops, { 'content-type': 'application/json-patch+json' })).status).toBe(412);
  });
});

describe('transactions with conditional entries and references', () => {
  it('rewrites conditional references (Patient?identifier=...) to the single match', async () => {
    const sys = system();
    const target = (await http('POST', 'Patient', patient(sys, 'ref'))).body;
    const res = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'cond' }, subject: { reference: `Patient?${q(sys, 'ref')}` } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    const obs = await http('GET', res.body.entry[0].response.location.split('/_history/')[0]);
    expect(obs.body.subject.reference).toBe(`Patient/${target.id}`);

    // no match: the transaction fails and stores nothing
    const none = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: `urn:uuid:${randomUUID()}`, resource: patient(sys, 'never'), request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'cond' }, subject: { reference: `Patient?${q(sys, 'missing')}` } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(none.status).toBeGreaterThanOrEqual(400);
    expect(none.status).toBeLessThan(500);
    const search = await http('GET', `Patient?${q(sys, 'never')}`);
    expect(search.body.entry ?? []).toEqual([]);
  });

  it('an ifNoneExist entry that matches is not created again, and urn:uuid references point at the match', async () => {
    const sys = system();
    const existing = (await http('POST', 'Patient', patient(sys, 'org'))).body;
    const p = `urn:uuid:${randomUUID()}`;
    const res = await http('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: p, resource: patient(sys, 'org'), request: { method: 'POST', url: 'Patient', ifNoneExist: q(sys, 'org') } },
        { fullUrl: `urn:uuid:${randomUUID()}`, resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: p } }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^200/);
    expect(idFromLocation(res.body.entry[0].response.location)).toBe(existing.id);
    const obs = await http('GET', res.body.entry[1].response.location.split('/_history/')[0]);
    expect(obs.body.subject.reference).toBe(`Patient/${existing.id}`);
  });
});

describe('search through fhir-kit-client', () => {
  it('finds by identifier and pages with nextPage', async () => {
    const sys = system();
    await Promise.all(Array.from({ length: 7 }, (_, i) => http('POST', 'Patient', patient(sys, 'page', { birthDate: `200${i}-01-01` }))));
    const client = new Client({ baseUrl: fhirBase(), customHeaders: authHeader() });
    let page: any = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${sys}|page`, _count: '3' } });
    expect(page.type).toBe('searchset');
    const found: string[] = [];
    let pages = 0;
    while (page) {
      pages++;
      found.push(...(page.entry ?? []).filter((e: any) => e.search?.mode !== 'outcome').map((e: any) => e.resource.birthDate));
      page = await client.nextPage({ bundle: page });
    }
    expect(pages).toBe(3);
    expect(found.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `200${i}-01-01`));
  });
});

describe('$validate with a profile the hub does not have', () => {
  it('is a 4xx OperationOutcome naming the profile', async () => {
    const url = `http://example.org/StructureDefinition/unknown-${uid()}`;
    const res = await http('POST', `Patient/$validate?profile=${encodeURIComponent(url)}`, { resourceType: 'Patient' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).toContain(url);
  });
});
