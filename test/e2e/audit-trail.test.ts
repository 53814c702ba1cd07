import { describe, expect, inject, it } from 'vitest';
import { http } from '../support/hub.js';
import { params, patientsOf, recordsOf, refsOf, requestId, requestIdOf, subtypeOf } from './audit-support.js';

/**
 * One AuditEvent per interaction (BALP-shaped), read and searched through /fhir/AuditEvent, never writable, a
 * patient's $access-log, and $verify on the shared hub's chain.
 */

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const id = requestId();
  const res = await http(method, path, body, { 'x-request-id': id, ...headers });
  expect(res.headers.get('x-request-id')).toBe(id);
  return { id, res };
}

/** The records of one request: exactly `n`, or the test fails. */
async function only(id: string, n = 1): Promise<any[]> {
  const records = await recordsOf([id]);
  expect(records, JSON.stringify(records.map(subtypeOf))).toHaveLength(n);
  for (const r of records) expect(requestIdOf(r)).toBe(id);
  return records;
}

const newPatient = async () => (await http('POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Audit-${requestId().slice(6, 14)}` }] })).body;

describe('one record per interaction', () => {
  it('create, read, vread, update, patch, search, history, delete: each leaves exactly one record, committed before the response', async () => {
    const c = await call('POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Audited' }] });
    expect(c.res.status).toBe(201);
    const pid = c.res.body.id;
    const [created] = await only(c.id);
    expect(created).toMatchObject({ resourceType: 'AuditEvent', action: 'C', outcome: '0', type: { code: 'rest' } });
    expect(subtypeOf(created)).toBe('create');
    expect(refsOf(created)).toContain(`Patient/${pid}`);
    expect(patientsOf(created)).toEqual([`Patient/${pid}`]);
    expect(created.source.observer.display).toBe('HIE hub');
    expect(created.agent[0]).toMatchObject({ requestor: true, network: { address: expect.any(String), type: '2' } });

    const o = await call('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'audit' }, subject: { reference: `Patient/${pid}` } });
    const oid = o.res.body.id;
    expect(patientsOf((await only(o.id))[0])).toEqual([`Patient/${pid}`]);

    const steps: [string, string, unknown, Record<string, string>, string, string][] = [
      ['GET', `Observation/${oid}`, undefined, {}, 'read', 'R'],
      ['GET', `Observation/${oid}/_history/1`, undefined, {}, 'vread', 'R'],
      ['PUT', `Observation/${oid}`, { resourceType: 'Observation', id: oid, status: 'amended', code: { text: 'audit' }, subject: { reference: `Patient/${pid}` } }, {}, 'update', 'U'],
      ['PATCH', `Observation/${oid}`, [{ op: 'replace', path: '/status', value: 'final' }], { 'content-type': 'application/json-patch+json' }, 'patch', 'U'],
      ['GET', `Observation/${oid}/_history`, undefined, {}, 'history-instance', 'E'],
      ['DELETE', `Observation/${oid}`, undefined, {}, 'delete', 'D'],
    ];
    for (const [method, path, body, headers, subtype, action] of steps) {
      const s = await call(method, path, body, headers);
      expect(s.res.status, `${method} ${path}: ${s.res.text.slice(0, 200)}`).toBeLessThan(300);
      const [r] = await only(s.id);
      expect([subtypeOf(r), r.action, r.outcome]).toEqual([subtype, action, '0']);
      expect(refsOf(r)).toContain(`Observation/${oid}`);
      // the patient whose data it is: from the resource read or written
      if (method !== 'DELETE') expect(patientsOf(r), subtype).toContain(`Patient/${pid}`);
    }
  });

  it('a search records the query and every patient whose data it returned', async () => {
    const [a, b] = [await newPatient(), await newPatient()];
    const tag = requestId('tag');
    for (const p of [a, b]) {
      const res = await http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'urn:audit-test', code: tag }] }, subject: { reference: `Patient/${p.id}` } });
      expect(res.status).toBe(201);
    }
    const s = await call('GET', `Observation?code=urn:audit-test|${tag}`);
    expect(s.res.body.entry).toHaveLength(2);
    const [r] = await only(s.id);
    expect([subtypeOf(r), r.action]).toEqual(['search-type', 'E']);
    expect(patientsOf(r).sort()).toEqual([`Patient/${a.id}`, `Patient/${b.id}`].sort());
    const query = r.entity.find((e: any) => e.role?.code === '24');
    expect(Buffer.from(query.query, 'base64').toString()).toBe(`code=${encodeURIComponent(`urn:audit-test|${tag}`)}`);

    // the Patients a search returns, matched or included, are named too
    const patients = await call('GET', `Patient?_id=${a.id}`);
    expect(patientsOf((await only(patients.id))[0])).toEqual([`Patient/${a.id}`]);
    const included = await call('GET', `Patient?_id=${b.id}&_revinclude=Observation:subject`);
    expect(included.res.body.entry).toHaveLength(2);
    expect(patientsOf((await only(included.id))[0])).toEqual([`Patient/${b.id}`]);

    // a search that returns nobody names nobody
    const none = await call('GET', `Observation?code=urn:audit-test|nothing-${tag}`);
    expect(patientsOf((await only(none.id))[0])).toEqual([]);
  });

  it('a request that fails validation leaves a record with outcome 4 and the reason', async () => {
    const bad = await call('POST', 'Observation', { resourceType: 'Observation', status: 'no-such-status' });
    expect(bad.res.status).toBe(400);
    const [r] = await only(bad.id);
    expect([subtypeOf(r), r.action, r.outcome]).toEqual(['create', 'C', '4']);
    expect(r.outcomeDesc).toMatch(/^400 .*no-such-status/);

    const missing = await call('GET', 'Patient/does-not-exist-audit');
    expect(missing.res.status).toBe(404);
    const [m] = await only(missing.id);
    expect([subtypeOf(m), m.outcome]).toEqual(['read', '4']);
    expect(m.outcomeDesc).toMatch(/^404 /);

    const conflict = await call('PUT', `Patient/${(await newPatient()).id}`, { resourceType: 'Patient', id: 'other' });
    expect(conflict.res.status).toBe(400);
    expect((await only(conflict.id))[0].outcome).toBe('4');
  });

  it('a request refused before it became an interaction (unknown type, malformed id) is recorded too', async () => {
    const unknown = await call('GET', 'NoSuchType/1');
    expect(unknown.res.status).toBe(404);
    const [u] = await only(unknown.id);
    expect([u.action, u.outcome, u.subtype]).toEqual(['R', '4', undefined]);
    expect(u.entity.find((e: any) => e.role?.code === '24').description).toBe('GET NoSuchType/1');
    const badId = await call('PUT', 'Patient/bad$id', { resourceType: 'Patient' });
    expect(badId.res.status).toBe(400);
    expect((await only(badId.id))[0]).toMatchObject({ action: 'U', outcome: '4' });
    const batch = await call('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'NoSuchType/2' } }] });
    expect(batch.res.body.entry[0].response.status).toBe('404');
    const records = await only(batch.id, 2);
    expect(records.map((r) => r.entity.find((e: any) => e.role?.code === '24')?.description ?? subtypeOf(r)).sort()).toEqual(['GET NoSuchType/2', 'batch']);
  });

  it('a batch records the Bundle and each entry; a transaction too, in its own transaction', async () => {
    const p = await newPatient();
    const batch = await call('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${p.id}` } },
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'InBatch' }] } },
        { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'bad' } },
      ],
    });
    expect(batch.res.body.entry.map((e: any) => e.response.status)).toEqual(['200', '201', '400']);
    const records = await only(batch.id, 4);
    expect(records.map((r) => `${subtypeOf(r)}:${r.outcome}`).sort()).toEqual(['batch:0', 'create:0', 'create:4', 'read:0']);
    const doors = records.map((r) => r.entity.find((e: any) => e.type?.code === 'XrequestId').detail[0].valueString);
    expect(doors.sort()).toEqual(['bundle-entry', 'bundle-entry', 'bundle-entry', 'rest']);

    const tx = await call('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0b5c0f43-3d8e-4d39-9f33-0b6a8f1b2a01', request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 't' }, subject: { reference: 'urn:uuid:0b5c0f43-3d8e-4d39-9f33-0b6a8f1b2a01' } } },
        { request: { method: 'GET', url: `Patient/${p.id}` } },
      ],
    });
    expect(tx.res.status).toBe(200);
    const newPid = tx.res.body.entry[0].response.location.split('/')[1];
    const txRecords = await only(tx.id, 4);
    expect(txRecords.map((r) => `${subtypeOf(r)}:${r.outcome}`).sort()).toEqual(['create:0', 'create:0', 'read:0', 'transaction:0']);
    expect(txRecords.find((r) => refsOf(r).some((x) => x.startsWith('Observation/')))!.entity.some((e: any) => e.what?.reference === `Patient/${newPid}`)).toBe(true);

    // a failing transaction: nothing is written, every attempted entry is still on record, marked rolled back
    const failed = await call('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'NeverStored' }] } },
        { request: { method: 'PUT', url: `Patient/${p.id}` }, resource: { resourceType: 'Patient', id: 'mismatch' } },
      ],
    });
    expect(failed.res.status).toBe(400);
    const failedRecords = await only(failed.id, 3);
    expect(failedRecords.map((r) => `${subtypeOf(r)}:${r.outcome}`).sort()).toEqual(['create:0', 'transaction:4', 'update:4']);
    for (const r of failedRecords.filter((x) => subtypeOf(x) !== 'transaction')) expect(r.outcomeDesc).toContain('rolled back');
  });

  it('records are valid R4 AuditEvents', async () => {
    const s = await call('GET', 'Patient?_count=2');
    const [r] = await only(s.id);
    const v = await http('POST', 'AuditEvent/$validate', r);
    expect(v.status).toBe(200);
    expect(v.body.issue.filter((i: any) => i.severity === 'error'), JSON.stringify(v.body)).toEqual([]);
  });
});

describe('/fhir/AuditEvent', () => {
  it('create, update, patch and delete are 405 — also inside Bundles', async () => {
    const anyRecord = (await http('GET', 'AuditEvent?_count=1')).body.entry[0].resource;
    const attempts = [
      await http('POST', 'AuditEvent', { ...anyRecord, id: undefined }),
      await http('PUT', `AuditEvent/${anyRecord.id}`, { ...anyRecord, outcome: '8' }),
      await http('PATCH', `AuditEvent/${anyRecord.id}`, [{ op: 'replace', path: '/outcome', value: '8' }], { 'content-type': 'application/json-patch+json' }),
      await http('DELETE', `AuditEvent/${anyRecord.id}`),
      await http('DELETE', 'AuditEvent?outcome=0'),
      await http('PUT', 'AuditEvent?outcome=0', anyRecord),
    ];
    for (const a of attempts) {
      expect(a.status).toBe(405);
      expect(a.body.resourceType).toBe('OperationOutcome');
    }
    const batch = await http('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `AuditEvent/${anyRecord.id}` } }, { request: { method: 'POST', url: 'AuditEvent' }, resource: anyRecord }] });
    expect(batch.body.entry.map((e: any) => e.response.status)).toEqual(['405', '405']);
    const tx = await http('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: `AuditEvent/${anyRecord.id}` }, resource: anyRecord }] });
    expect(tx.status).toBe(405);
    expect((await http('GET', `AuditEvent/${anyRecord.id}`)).body).toEqual(anyRecord);
  });

  it('read by id, and search by patient, agent, entity, date, type, subtype, action, outcome, request-id with paging', async () => {
    const p = await newPatient();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('GET', `Patient/${p.id}`);
      ids.push(r.id);
    }
    const bad = await call('GET', `Patient/${p.id}/_history/99`);
    expect(bad.res.status).toBe(404);

    const byPatient = await http('GET', `AuditEvent?patient=${p.id}&_count=2&_total=accurate`);
    expect(byPatient.status).toBe(200);
    expect(byPatient.body.total).toBe(7); // the create, five reads, the failed vread
    const pages: any[] = [...byPatient.body.entry];
    let next = byPatient.body.link.find((l: any) => l.relation === 'next')?.url;
    while (next) {
      const page = await http('GET', next);
      pages.push(...page.body.entry);
      next = page.body.link.find((l: any) => l.relation === 'next')?.url;
    }
    expect(pages).toHaveLength(7);
    expect(new Set(pages.map((e) => e.resource.id)).size).toBe(7);
    const times = pages.map((e) => e.resource.recorded);
    expect([...times].sort().reverse()).toEqual(times); // newest first

    const one = pages[0].resource;
    expect((await http('GET', `AuditEvent/${one.id}`)).body).toEqual(one);
    expect((await http('GET', `AuditEvent/${one.id}`)).status).toBe(200);
    expect((await http('GET', 'AuditEvent/00000000-0000-0000-0000-000000000000')).status).toBe(404);

    const count = async (q: string) => (await http('GET', `AuditEvent?patient=Patient/${p.id}&_total=accurate&_count=0&${q}`)).body.total;
    expect(await count('subtype=read')).toBe(5);
    expect(await count('subtype=http://hl7.org/fhir/restful-interaction|vread')).toBe(1);
    expect(await count('outcome=4')).toBe(1);
    expect(await count('outcome=0,4')).toBe(7);
    expect(await count('action=C')).toBe(1);
    expect(await count('type=rest')).toBe(7);
    expect(await count(`entity=Patient/${p.id}`)).toBe(7);
    expect(await count(`date=ge${one.recorded}`)).toBeGreaterThanOrEqual(1);
    expect(await count(`date=lt2000-01-01`)).toBe(0);
    expect(await count(`date=${new Date().toISOString().slice(0, 4)}`)).toBe(7);
    expect(await count(`request-id=${ids.join(',')}`)).toBe(5);
    expect(await count('agent:identifier=nobody')).toBe(0);
    expect((await http('GET', `Patient/${p.id}/AuditEvent?_total=accurate&_count=0`)).body.total).toBe(7);
    expect((await http('GET', 'AuditEvent?_sort=subtype')).status).toBe(400);
    expect((await http('GET', 'AuditEvent?date=yesterday')).status).toBe(400);
    expect((await http('GET', 'AuditEvent?nonsense=1', undefined, { prefer: 'handling=strict' })).status).toBe(400);
  });

  it('the CapabilityStatement lists AuditEvent as read + search with its parameters and $verify', async () => {
    const cs = (await http('GET', 'metadata')).body;
    const ae = cs.rest[0].resource.find((r: any) => r.type === 'AuditEvent');
    expect(ae.interaction.map((i: any) => i.code)).toEqual(['read', 'search-type']);
    expect(ae.searchParam.map((s: any) => s.name)).toEqual(expect.arrayContaining(['patient', 'agent', 'entity', 'date', 'type', 'subtype', 'outcome']));
    expect(ae.operation.map((o: any) => o.name)).toContain('verify');
  });
});

describe('$access-log and $verify', () => {
  it("Patient/{id}/$access-log lists who accessed that patient's data, when, through which app, newest first", async () => {
    const p = await newPatient();
    const other = await newPatient();
    await call('GET', `Patient/${p.id}`);
    const search = await call('GET', `Patient?_id=${p.id},${other.id}`);
    expect(search.res.body.entry).toHaveLength(2);
    const log = await http('GET', `Patient/${p.id}/$access-log`);
    expect(log.status).toBe(200);
    expect(log.body.resourceType).toBe('Parameters');
    const accesses = params(log.body).access;
    expect(accesses.map((a: any) => a.interaction[0])).toEqual(['search-type', 'read', 'create']);
    for (const a of accesses) {
      expect(a.when[0]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      // the run's backend client (client_credentials): the app, no user
      expect(a.app[0]).toBe(inject('bootstrapClientId'));
      expect(a.address[0]).toBeTruthy();
      expect(a.event[0].reference).toMatch(/^AuditEvent\//);
      // never another patient's id, although the search returned both
      expect(JSON.stringify(a)).not.toContain(other.id);
    }
    // reading the access log is an access too (the call above is now the newest)
    const paged = await http('GET', `Patient/${p.id}/$access-log?_count=1`);
    expect(params(paged.body).access.map((a: any) => a.interaction[0])).toEqual(['$access-log']);
    const cursor = params(paged.body).next[0];
    const page2 = await http('GET', `Patient/${p.id}/$access-log?_count=2&_cursor=${cursor}`);
    expect(params(page2.body).access.map((a: any) => a.interaction[0])).toEqual(['search-type', 'read']);
  });

  it('GET AuditEvent/$verify walks the whole chain: OK', async () => {
    const v = await http('GET', 'AuditEvent/$verify');
    expect(v.status).toBe(200);
    const r = params(v.body);
    expect(r.problem, JSON.stringify(r.problem)).toBeUndefined();
    expect(r.result).toEqual([true]);
    expect(r.records[0]).toBeGreaterThan(10);
    expect(r.lastHash[0]).toMatch(/^[0-9a-f]{64}$/);
  });
});
