import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';
import { describe, expect, it } from 'vitest';
import { authHeader, fhirBase } from '../support/hub.js';

/** fhir-kit-client as a real, independent FHIR client of the hub. (Search with it: rest-conditional.test.ts.) */

const uid = () => randomUUID().slice(0, 8);
const client = () => new Client({ baseUrl: fhirBase(), customHeaders: authHeader() });
const statusOf = (resource: any) => Client.httpFor(resource).response?.status;
const headerOf = (resource: any, name: string) => Client.httpFor(resource).response?.headers.get(name);

/** The HTTP status of a request the client rejected (it throws on non-2xx). */
async function failure(p: Promise<unknown>): Promise<{ status: number; data: any }> {
  try {
    await p;
  } catch (e: any) {
    return { status: e.response?.status, data: e.response?.data };
  }
  throw new Error('expected the request to fail');
}

describe('fhir-kit-client against the hub', () => {
  it('reads the CapabilityStatement', async () => {
    const cs: any = await client().capabilityStatement();
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
  });

  it('create, read, vread, update, patch, delete', async () => {
    const c = client();
    const family = `Kit-${uid()}`;
    const created: any = await c.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family, given: ['Kit'] }], gender: 'female' } });
    expect(statusOf(created)).toBe(201);
    expect(created.id).toBeTruthy();
    expect(created.meta.versionId).toBe('1');
    expect(headerOf(created, 'location')).toBe(`${fhirBase()}/Patient/${created.id}/_history/1`);

    const read: any = await c.read({ resourceType: 'Patient', id: created.id });
    expect(read).toEqual(created);

    const updated: any = await c.update({ resourceType: 'Patient', id: created.id, body: { ...read, birthDate: '1999-09-09' } });
    expect(statusOf(updated)).toBe(200);
    expect(updated.meta.versionId).toBe('2');
    expect(updated.birthDate).toBe('1999-09-09');

    const patched: any = await c.patch({
      resourceType: 'Patient',
      id: created.id,
      jsonPatch: [
        { op: 'test', path: '/birthDate', value: '1999-09-09' },
        { op: 'replace', path: '/gender', value: 'male' },
      ],
    });
    expect(patched.meta.versionId).toBe('3');
    expect(patched.gender).toBe('male');
    expect(patched.birthDate).toBe('1999-09-09');

    const v1: any = await c.vread({ resourceType: 'Patient', id: created.id, version: '1' });
    expect(v1.gender).toBe('female');
    expect(v1.birthDate).toBeUndefined();

    // stale If-Match through the client's options
    const stale = await failure(c.update({ resourceType: 'Patient', id: created.id, body: { ...patched, gender: 'other' }, options: { headers: { 'If-Match': 'W/"1"' } } }));
    expect(stale.status).toBe(412);
    expect(stale.data.resourceType).toBe('OperationOutcome');

    await c.delete({ resourceType: 'Patient', id: created.id });
    const gone = await failure(c.read({ resourceType: 'Patient', id: created.id }));
    expect(gone.status).toBe(410);
    expect(gone.data.resourceType).toBe('OperationOutcome');
    const missing = await failure(c.read({ resourceType: 'Patient', id: `kit-${uid()}` }));
    expect(missing.status).toBe(404);
  });

  it('update-as-create with a client-chosen id', async () => {
    const id = `kit-${uid()}`;
    const res: any = await client().update({ resourceType: 'Observation', id, body: { resourceType: 'Observation', id, status: 'final', code: { text: 'kit' } } });
    expect(statusOf(res)).toBe(201);
    expect(res.id).toBe(id);
  });

  it('history at instance and type level, paged with nextPage', async () => {
    const c = client();
    const p: any = await c.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: `Kit-${uid()}` }] } });
    let current = p;
    for (let i = 0; i < 4; i++) current = await c.update({ resourceType: 'Patient', id: p.id, body: { ...current, birthDate: `200${i}-01-01` } });

    const instance: any = await c.history({ resourceType: 'Patient', id: p.id });
    expect(instance.type).toBe('history');
    expect(instance.entry.map((e: any) => e.resource.meta.versionId)).toEqual(['5', '4', '3', '2', '1']);
    expect((await c.resourceHistory({ resourceType: 'Patient', id: p.id }) as any).entry).toHaveLength(5);

    // page by 2 with nextPage until there is no next page
    let page: any = await c.request(`Patient/${p.id}/_history?_count=2`);
    const versions: string[] = [];
    let pages = 0;
    while (page) {
      pages++;
      versions.push(...page.entry.map((e: any) => e.resource.meta.versionId));
      page = await c.nextPage({ bundle: page });
    }
    expect(pages).toBe(3);
    expect(versions).toEqual(['5', '4', '3', '2', '1']);

    // type history: SubstancePolymer is used by no example or Synthea data; filter on our ids anyway
    const since = new Date(Date.now() - 1000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await c.create({ resourceType: 'SubstancePolymer', body: { resourceType: 'SubstancePolymer' } })) as any).id);
    let typePage: any = await c.request(`SubstancePolymer/_history?_since=${encodeURIComponent(since)}&_count=1`);
    const seen: string[] = [];
    while (typePage) {
      seen.push(...typePage.entry.map((e: any) => e.resource.id));
      typePage = await c.nextPage({ bundle: typePage });
    }
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    const typeHistory: any = await c.typeHistory({ resourceType: 'SubstancePolymer' });
    expect(typeHistory.type).toBe('history');
  });

  it('batch: independent entries, a failure reported in its entry', async () => {
    const id = `kit-${uid()}`;
    const res: any = await client().batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', id, name: [{ family: 'Kit-batch' }] }, request: { method: 'PUT', url: `Patient/${id}` } },
          { request: { method: 'GET', url: `Patient/kit-missing-${uid()}` } },
          { request: { method: 'GET', url: `Patient/${id}` } },
        ],
      },
    });
    expect(res.type).toBe('batch-response');
    expect(res.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '404', '200']);
    expect(res.entry[2].resource.name[0].family).toBe('Kit-batch');
  });

  it('transaction: urn:uuid references rewritten; a failing transaction stores nothing', async () => {
    const c = client();
    const p = `urn:uuid:${randomUUID()}`;
    const res: any = await c.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: `urn:uuid:${randomUUID()}`, resource: { resourceType: 'Observation', status: 'final', code: { text: 'kit' }, subject: { reference: p } }, request: { method: 'POST', url: 'Observation' } },
          { fullUrl: p, resource: { resourceType: 'Patient', name: [{ family: 'Kit-tx' }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    expect(res.type).toBe('transaction-response');
    const [obsRef, patRef] = res.entry.map((e: any) => e.response.location.split('/_history/')[0]);
    const obs: any = await c.request(obsRef);
    expect(obs.subject.reference).toBe(patRef);
    const [type, id] = patRef.split('/');
    expect(((await c.read({ resourceType: type, id })) as any).name[0].family).toBe('Kit-tx');

    const putId = `kit-${uid()}`;
    const failed = await failure(
      c.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { resourceType: 'Patient', id: putId }, request: { method: 'PUT', url: `Patient/${putId}` } },
            { resource: { resourceType: 'Patient', birthDate: 'never' }, request: { method: 'POST', url: 'Patient' } },
          ],
        },
      }),
    );
    expect(failed.status).toBe(400);
    expect(failed.data.resourceType).toBe('OperationOutcome');
    expect((await failure(c.read({ resourceType: 'Patient', id: putId }))).status).toBe(404);
  });

  it('$validate through operation()', async () => {
    const oo: any = await client().operation({ name: '$validate', resourceType: 'Patient', input: { resourceType: 'Patient', gender: 'robot ' } });
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue.filter((i: any) => i.severity === 'error').map((i: any) => i.expression?.[0])).toEqual(['Patient.gender']);
  });
});
