import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fhirBase, http, type FhirResponse } from '../support/hub.js';

/** batch and transaction Bundles POSTed to the base. */

const uid = () => randomUUID().slice(0, 8);
const urn = () => `urn:uuid:${randomUUID()}`;
const patient = (family = `Bundle-${uid()}`) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:test:bundles', value: randomUUID() }],
  name: [{ family }],
});
const observation = (subject: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'weight' },
  subject: { reference: subject },
  valueQuantity: { value: 70, unit: 'kg' },
  ...extra,
});
const bundle = (type: 'batch' | 'transaction', entry: any[]) => ({ resourceType: 'Bundle', type, entry });
/** `Patient/123` from a response.location such as `Patient/123/_history/1` */
const typeId = (location: string) => location.split('/_history/')[0];

/** Every Patient written (any version) since `since` that carries one of these identifier values. */
async function patientsWithIdentifiers(since: string, values: string[]): Promise<string[]> {
  const wanted = new Set(values);
  const found: string[] = [];
  let url: string | undefined = `Patient/_history?_since=${encodeURIComponent(since)}&_count=500`;
  while (url) {
    const res: FhirResponse = await http('GET', url);
    expect(res.status).toBe(200);
    for (const e of res.body.entry ?? []) {
      if (e.resource?.identifier?.some((i: any) => wanted.has(i.value))) found.push(e.resource.id);
    }
    url = res.body.link.find((l: any) => l.relation === 'next')?.url;
  }
  return found;
}

describe('batch', () => {
  it('processes entries independently: a failing entry is reported in its response while the others succeed', async () => {
    const existing = (await http('POST', 'Patient', patient())).body;
    const putId = `bundle-${uid()}`;
    const missing = `bundle-${uid()}`;
    const req = bundle('batch', [
      { resource: patient('Batch-created'), request: { method: 'POST', url: 'Patient' } },
      { resource: { ...patient('Batch-put'), id: putId }, request: { method: 'PUT', url: `Patient/${putId}` } },
      { request: { method: 'GET', url: `Patient/${missing}` } },
      { resource: { resourceType: 'Observation', code: { text: 'no status' } }, request: { method: 'POST', url: 'Observation' } },
      { request: { method: 'GET', url: `Patient/${existing.id}` } },
      { request: { method: 'DELETE', url: `Patient/${existing.id}` } },
      { resource: { resourceType: 'Patient', gender: 'robot-ish value' }, request: { method: 'POST', url: 'Foo' } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('Bundle');
    expect(res.body.type).toBe('batch-response');
    const out = res.body.entry;
    expect(out).toHaveLength(req.entry.length);
    expect(out.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '201', '404', '400', '200', '204', '404']);

    // successes are stored
    const created = await http('GET', typeId(out[0].response.location));
    expect(created.status).toBe(200);
    expect(created.body.name[0].family).toBe('Batch-created');
    expect(out[1].response.location).toMatch(new RegExp(`^Patient/${putId}/_history/1$`));
    expect((await http('GET', `Patient/${putId}`)).body.name[0].family).toBe('Batch-put');
    expect(out[4].resource.id).toBe(existing.id);
    expect((await http('GET', `Patient/${existing.id}`)).status).toBe(410);

    // failures carry an OperationOutcome that says why
    expect(out[2].response.outcome.resourceType).toBe('OperationOutcome');
    expect(out[3].response.outcome.issue.some((i: any) => i.expression?.[0] === 'Observation.status')).toBe(true);
    expect(out[6].response.outcome.resourceType).toBe('OperationOutcome');
  });

  it('an empty batch answers an empty batch-response', async () => {
    const res = await http('POST', '', { resourceType: 'Bundle', type: 'batch' });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry ?? []).toEqual([]);
  });
});

describe('transaction', () => {
  it('writes every entry, answers in request order, and rewrites urn:uuid references in every entry', async () => {
    const p = urn();
    const enc = urn();
    const putObsId = `bundle-${uid()}`;
    const req = bundle('transaction', [
      { fullUrl: enc, resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: p } }, request: { method: 'POST', url: 'Encounter' } },
      {
        fullUrl: urn(),
        resource: observation(p, {
          encounter: { reference: enc },
          performer: [{ reference: p, display: 'self' }],
          extension: [{ url: 'http://example.org/source-patient', valueReference: { reference: p } }],
        }),
        request: { method: 'POST', url: 'Observation' },
      },
      { fullUrl: p, resource: patient('Tx-urn'), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: `${fhirBase()}/Observation/${putObsId}`, resource: { ...observation(p), id: putObsId }, request: { method: 'PUT', url: `Observation/${putObsId}` } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status, res.text.slice(0, 500)).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    const out = res.body.entry;
    expect(out).toHaveLength(4);
    expect(out.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '201', '201', '201']);
    expect(out.map((e: any) => typeId(e.response.location).split('/')[0])).toEqual(['Encounter', 'Observation', 'Patient', 'Observation']);

    const patientRef = typeId(out[2].response.location);
    const encounterRef = typeId(out[0].response.location);
    expect(patientRef).toMatch(/^Patient\/[A-Za-z0-9\-.]{1,64}$/);

    const encounter = (await http('GET', encounterRef)).body;
    expect(encounter.subject.reference).toBe(patientRef);
    const obs = (await http('GET', typeId(out[1].response.location))).body;
    expect(obs.subject.reference).toBe(patientRef);
    expect(obs.encounter.reference).toBe(encounterRef);
    expect(obs.performer).toEqual([{ reference: patientRef, display: 'self' }]);
    expect(obs.extension[0].valueReference.reference).toBe(patientRef);
    const put = (await http('GET', `Observation/${putObsId}`)).body;
    expect(put.subject.reference).toBe(patientRef);
    expect(JSON.stringify([encounter, obs, put])).not.toContain('urn:uuid');
    // the references resolve
    expect((await http('GET', patientRef)).body.name[0].family).toBe('Tx-urn');
  });

  it('is all or nothing: one invalid entry → 400 and nothing from the bundle is stored', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const p = urn();
    const putId = `bundle-${uid()}`;
    const first = patient('Tx-rollback');
    const req = bundle('transaction', [
      { fullUrl: p, resource: first, request: { method: 'POST', url: 'Patient' } },
      { resource: { ...patient('Tx-rollback-put'), id: putId }, request: { method: 'PUT', url: `Patient/${putId}` } },
      { fullUrl: urn(), resource: observation(p), request: { method: 'POST', url: 'Observation' } },
      // invalid: Observation.status is required
      { fullUrl: urn(), resource: { resourceType: 'Observation', code: { text: 'x' }, subject: { reference: p } }, request: { method: 'POST', url: 'Observation' } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).toMatch(/entry\[3\]/);
    expect(JSON.stringify(res.body)).toMatch(/status/);

    expect((await http('GET', `Patient/${putId}`)).status).toBe(404);
    expect(await patientsWithIdentifiers(since, [first.identifier[0].value, req.entry[1].resource.identifier[0].value])).toEqual([]);
  });

  it('is all or nothing when a later phase fails: an earlier DELETE and update are rolled back', async () => {
    const keep = (await http('POST', 'Patient', patient('Tx-keep'))).body;
    const changed = (await http('POST', 'Patient', patient('Tx-unchanged'))).body;
    const stale = (await http('POST', 'Patient', patient('Tx-stale'))).body;
    await http('PUT', `Patient/${stale.id}`, { ...stale, gender: 'male' }); // now at version 2
    const req = bundle('transaction', [
      { request: { method: 'DELETE', url: `Patient/${keep.id}` } },
      { resource: { ...changed, name: [{ family: 'Tx-changed' }] }, request: { method: 'PUT', url: `Patient/${changed.id}` } },
      { resource: { ...stale, gender: 'female' }, request: { method: 'PUT', url: `Patient/${stale.id}`, ifMatch: 'W/"1"' } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const k = await http('GET', `Patient/${keep.id}`);
    expect(k.status).toBe(200);
    expect(k.body.meta.versionId).toBe('1');
    const c = await http('GET', `Patient/${changed.id}`);
    expect(c.body.name[0].family).toBe('Tx-unchanged');
    expect(c.body.meta.versionId).toBe('1');
    expect((await http('GET', `Patient/${stale.id}`)).body.meta.versionId).toBe('2');
    expect((await http('GET', `Patient/${keep.id}/_history`)).body.entry).toHaveLength(1);
  });

  it('processes DELETE, then POST, then PUT, then GET, whatever the order of the entries', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const toUpdate = (await http('POST', 'Patient', patient('Order-before'))).body;
    const toDelete = (await http('POST', 'Patient', patient('Order-delete'))).body;
    const created = patient('Order-created');
    const req = bundle('transaction', [
      { request: { method: 'GET', url: `Patient/${toUpdate.id}` } },
      { resource: { ...toUpdate, name: [{ family: 'Order-after' }] }, request: { method: 'PUT', url: `Patient/${toUpdate.id}` } },
      { fullUrl: urn(), resource: created, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: `Patient/${toDelete.id}` } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status, res.text.slice(0, 500)).toBe(200);
    const out = res.body.entry;
    // responses stay in request order
    expect(out.map((e: any) => e.response.status.slice(0, 3))).toEqual(['200', '200', '201', '204']);
    // the GET (first in the bundle) ran after the PUT (second)
    expect(out[0].resource.name[0].family).toBe('Order-after');
    expect(out[0].resource.meta.versionId).toBe('2');

    // the writes were made in the order DELETE, POST, PUT (history lists them newest first)
    const createdId = typeId(out[2].response.location).split('/')[1];
    const ours = new Map([
      [`Patient/${toDelete.id} DELETE`, 'DELETE'],
      [`Patient/${createdId} POST`, 'POST'],
      [`Patient/${toUpdate.id} PUT`, 'PUT'],
    ]);
    const seen: string[] = [];
    let url: string | undefined = `Patient/_history?_since=${encodeURIComponent(since)}&_count=500`;
    while (url) {
      const page: FhirResponse = await http('GET', url);
      for (const e of page.body.entry ?? []) {
        const key = `${e.fullUrl.replace(`${fhirBase()}/`, '')} ${e.request.method}`;
        if (ours.has(key)) seen.push(ours.get(key)!);
      }
      url = page.body.link.find((l: any) => l.relation === 'next')?.url;
    }
    expect(seen).toEqual(['PUT', 'POST', 'DELETE']);
  });

  it('refuses a transaction that changes one resource twice (400), storing nothing', async () => {
    const id = `bundle-${uid()}`;
    const other = `bundle-${uid()}`;
    const req = bundle('transaction', [
      { resource: { ...patient('Dup-other'), id: other }, request: { method: 'PUT', url: `Patient/${other}` } },
      { resource: { ...patient('Dup-1'), id }, request: { method: 'PUT', url: `Patient/${id}` } },
      { resource: { ...patient('Dup-2'), id }, request: { method: 'PUT', url: `Patient/${id}` } },
    ]);
    const res = await http('POST', '', req);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(res.body)).toContain(`Patient/${id}`);
    expect((await http('GET', `Patient/${id}`)).status).toBe(404);
    expect((await http('GET', `Patient/${other}`)).status).toBe(404);

    // a PUT and a DELETE of the same resource are a duplicate too
    const existing = (await http('POST', 'Patient', patient('Dup-existing'))).body;
    const mixed = await http('POST', '', bundle('transaction', [
      { request: { method: 'DELETE', url: `Patient/${existing.id}` } },
      { resource: { ...existing, gender: 'male' }, request: { method: 'PUT', url: `Patient/${existing.id}` } },
    ]));
    expect(mixed.status).toBe(400);
    expect((await http('GET', `Patient/${existing.id}`)).body.meta.versionId).toBe('1');
  });

  it('refuses an entry without a request, and a Bundle that is neither batch nor transaction', async () => {
    const p = patient('No-request');
    const res = await http('POST', '', bundle('transaction', [{ fullUrl: urn(), resource: p }]));
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const coll = await http('POST', '', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient() }] });
    expect(coll.status).toBe(400);
    expect(coll.body.resourceType).toBe('OperationOutcome');
  });

  it('Prefer: return=minimal leaves the resources out of the response', async () => {
    const res = await http('POST', '', bundle('transaction', [{ fullUrl: urn(), resource: patient('Minimal'), request: { method: 'POST', url: 'Patient' } }]), {
      prefer: 'return=minimal',
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource).toBeUndefined();
    expect(res.body.entry[0].response.status).toMatch(/^201/);
    expect((await http('GET', typeId(res.body.entry[0].response.location))).body.name[0].family).toBe('Minimal');
  });
});
