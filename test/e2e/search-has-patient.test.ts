import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { PgSearchEngine } from '../../src/fhir/search/pg-search-engine.js';
import { fillPatientRidsSql, patientParamPids, PRID_UNKNOWN } from '../../src/fhir/search/index/search-index-writer.js';
import type { FilterPlan } from '../../src/fhir/search/query/filter-plans.js';
import { http } from '../support/hub.js';
import { pagesBothWays } from './search-support.js';

/**
 * `Patient?_has:T:patient:<token>=x` answered from the token index (`sp_token.prid`, FilterCompiler.patientHas):
 * every way the page can be read (from the matches' Patients or walking the Patients; with another filter, probed
 * or gathered) against an expectation kept by the test itself, including the rows the column cannot answer
 * (a resource pointing to two Patients, one written before its Patient), updates, deletes and the migration's fill.
 */
let pool: pg.Pool;
const registry = new SearchParamRegistry();
const run = randomUUID().slice(0, 8);
const SYS = `urn:test:has-patient:${run}`;
const TAG = { system: 'urn:test:has-patient', code: run };

beforeAll(async () => {
  const pid = fs.readFileSync(path.join(inject('dataDir'), 'pg', 'postmaster.pid'), 'utf8').split('\n');
  pool = new pg.Pool({ connectionString: `postgres://hub:hub@127.0.0.1:${pid[3].trim()}/hub`, max: 2 });
  registry.warmUp();
});

afterAll(async () => {
  await pool?.end();
});

const patient = (id: string) => ({ resourceType: 'Patient', id, meta: { tag: [TAG] }, name: [{ family: `Has${run}` }] });
const observation = (code: string, patientId: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: SYS, code }] },
  subject: { reference: `Patient/${patientId}` },
});

async function post(entries: { resource: any; method: 'POST' | 'PUT'; url?: string }[]): Promise<string[]> {
  const res = await http('POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: entries.map((e) => ({ resource: e.resource, request: { method: e.method, url: e.url ?? (e.method === 'PUT' ? `${e.resource.resourceType}/${e.resource.id}` : e.resource.resourceType) } })),
  });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
  return res.body.entry.map((e: any) => e.response.location.split('/')[1]);
}

/** Every page of a search through the engine, forwards; then backwards from the last page (which must agree). */
async function pages(options: { candidatesCap?: number; plan?: FilterPlan }, params: [string, string][], count: number): Promise<string[]> {
  const engine = new PgSearchEngine(registry, options);
  const run = (p: [string, string][]) => engine.search(pool, { resourceType: 'Patient', params: p, strict: true, baseUrl: 'http://hub/fhir' } as any);
  return (await pagesBothWays(run, params, count, `${JSON.stringify(options)} ${JSON.stringify(params)}`)).flat();
}

/** The Patients' ids in rid order (the order of a page without _sort). */
async function inRidOrder(ids: string[]): Promise<string[]> {
  const { rows } = await pool.query(`SELECT id FROM resource WHERE resource_type = 'Patient' AND id = ANY($1) AND NOT deleted ORDER BY rid`, [ids]);
  return rows.map((r) => r.id);
}

/** Every way of running `_has` must find `expected`: alone (both page forms), with another filter (each plan), over HTTP. */
async function expectPatients(has: [string, string], expected: string[]): Promise<void> {
  const want = await inRidOrder(expected);
  for (const candidatesCap of [0, 1_000_000, undefined]) {
    for (const count of [3, 50]) expect(await pages({ candidatesCap }, [has], count), `alone, cap ${candidatesCap}, _count ${count}`).toEqual(want);
  }
  for (const plan of ['walk', 'gather', undefined] as const) {
    for (const count of [3, 50]) expect(await pages({ plan }, [has, ['_tag', `${TAG.system}|${TAG.code}`]], count), `with _tag, ${plan}, _count ${count}`).toEqual(want);
  }
  const res = await http('GET', `Patient?${has[0]}=${encodeURIComponent(has[1])}&_count=100`);
  expect(res.status).toBe(200);
  expect(res.body.entry?.map((e: any) => e.resource.id) ?? []).toEqual(want);
}

const pridsOf = async (ids: string[]) =>
  (await pool.query(`SELECT DISTINCT t.prid::text AS prid FROM sp_token t JOIN resource r ON r.rid = t.rid WHERE r.id = ANY($1) AND t.code IS NOT NULL AND t.pid = $2`, [ids, registry.get('Observation', 'code')!.pid])).rows.map((r) => r.prid);
const ridOf = async (type: string, id: string) => (await pool.query(`SELECT rid::text FROM resource WHERE resource_type = $1 AND id = $2`, [type, id])).rows[0].rid;

/** Every page of a search by the engine (forwards), and over HTTP in one page: the ids in order. */
async function found(resourceType: string, params: [string, string][]): Promise<string[]> {
  const engine = new PgSearchEngine(registry);
  const out: string[] = [];
  let p: [string, string][] = [...params, ['_count', '2']];
  for (let i = 0; i < 50; i++) {
    const bundle = await engine.search(pool, { resourceType, params: p, strict: true, baseUrl: 'http://hub/fhir' } as any);
    out.push(...(bundle.entry ?? []).map((e: any) => e.resource.id));
    const next = bundle.link.find((l: any) => l.relation === 'next');
    if (!next) break;
    p = [...new URL(next.url).searchParams.entries()] as [string, string][];
  }
  const res = await http('GET', `${resourceType}?${params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}&_count=100`);
  expect(res.status).toBe(200);
  expect(res.body.entry?.map((e: any) => e.resource.id) ?? []).toEqual(out);
  return out;
}

const byRid = async (type: string, ids: string[]) =>
  (await pool.query(`SELECT id FROM resource WHERE resource_type = $1 AND id = ANY($2) AND NOT deleted ORDER BY rid`, [type, ids])).rows.map((r) => r.id);

describe('T?patient=x&<token>=y from the token index', () => {
  it('finds the patient’s resources with the token, also those pointing to several patients or written before the patient', async () => {
    const [p1, p2, p3] = ['d1', 'd2', 'd3'].map((s) => `hp-${run}-${s}`);
    await post([p1, p2, p3].map((id) => ({ resource: patient(id), method: 'PUT' as const })));
    const [o1, o2, o3, , o5] = await post([
      { resource: observation('D', p1), method: 'POST' },
      { resource: observation('D', p1), method: 'POST' },
      { resource: { ...observation('D', p1), status: 'amended' }, method: 'POST' },
      { resource: observation('E', p1), method: 'POST' },
      { resource: observation('D', p2), method: 'POST' },
    ]);
    const statements: string[] = [];
    const engine = new PgSearchEngine(registry);
    await engine.search({ query: (c: any) => (statements.push(c.text), pool.query(c)) } as any, { resourceType: 'Observation', params: [['patient', p1], ['code', `${SYS}|D`]], strict: true, baseUrl: 'http://hub/fhir' } as any);
    expect(statements.at(-1)).toMatch(/FROM sp_token a\d+ WHERE .* AND a\d+\.prid = \(SELECT p\.rid FROM resource p/s);
    expect(await found('Observation', [['patient', p1], ['code', `${SYS}|D`]])).toEqual(await byRid('Observation', [o1, o2, o3]));
    expect(await found('Observation', [['patient', `Patient/${p1}`], ['code', `${SYS}|D`], ['status', 'final']])).toEqual(await byRid('Observation', [o1, o2]));
    expect(await found('Observation', [['code', `${SYS}|D`], ['patient', p2]])).toEqual([o5]);
    expect(await found('Observation', [['patient', p3], ['code', `${SYS}|D`]])).toEqual([]);
    // not the patient parameter: anchored on the reference rows, the token probed (fenced)
    expect(await found('Observation', [['subject', `Patient/${p1}`], ['code', `${SYS}|D`]])).toEqual(await byRid('Observation', [o1, o2, o3]));

    // an Appointment of two patients (prid -1) is found for each; one of a patient created after it, too
    const appointment = (who: string[]) => ({
      resourceType: 'Appointment',
      status: 'booked',
      start: '2030-01-01T09:00:00Z',
      end: '2030-01-01T09:30:00Z',
      serviceType: [{ coding: [{ system: SYS, code: 'V' }] }],
      participant: who.map((id) => ({ actor: { reference: `Patient/${id}` }, status: 'accepted' })),
    });
    const later = `hp-${run}-d4`;
    const [both, alone] = await post([
      { resource: appointment([p1, p2]), method: 'POST' },
      { resource: appointment([p3]), method: 'POST' },
    ]);
    const [beforePatient] = await post([{ resource: observation('D', later), method: 'POST' }]);
    for (const [who, want] of [[p1, [both]], [p2, [both]], [p3, [alone]]] as const) {
      expect(await found('Appointment', [['patient', who], ['service-type', `${SYS}|V`]]), who).toEqual(want);
    }
    expect(await found('Observation', [['patient', later], ['code', `${SYS}|D`]])).toEqual([beforePatient]); // -1: no Patient yet
    expect((await http('PUT', `Patient/${later}`, patient(later))).status).toBe(201);
    expect(await found('Observation', [['patient', later], ['code', `${SYS}|D`]])).toEqual([beforePatient]); // linked now
  });
});

describe('Patient?_has:T:patient:<token> from the token index', () => {
  it('finds the Patients of the matching resources, however the page is read, through updates and deletes', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `hp-${run}-${i}`);
    // patients 0, 2, 4 … have code A (patient 4 three times), 1 and 5 code B; in one transaction, patients first
    await post([
      ...ids.map((id) => ({ resource: patient(id), method: 'PUT' as const })),
      ...ids.filter((_, i) => i % 2 === 0).map((id) => ({ resource: observation('A', id), method: 'POST' as const })),
      ...[0, 1].map(() => ({ resource: observation('A', ids[4]), method: 'POST' as const })),
      ...[1, 5].map((i) => ({ resource: observation('B', ids[i]), method: 'POST' as const })),
    ]);
    const withA = ids.filter((_, i) => i % 2 === 0);
    // the Observations were POSTed before the Patients were PUT (R4 transaction order): written with prid -1, then
    // given the rids when their Patients were created
    const aObs = (await pool.query(`SELECT r.id FROM sp_token t JOIN resource r ON r.rid = t.rid WHERE t.sys = $1 AND t.code = 'A' AND t.pid = $2`, [SYS, registry.get('Observation', 'code')!.pid])).rows.map((r) => r.id);
    expect(aObs.length).toBe(8);
    expect((await pridsOf(aObs)).includes(String(PRID_UNKNOWN))).toBe(false);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|A`], withA);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|A,${SYS}|B`], [...withA, ids[1], ids[5]].filter((id) => id.startsWith(`hp-${run}`)));
    await expectPatients(['_has:Observation:patient:code', `${SYS}|C`], []);
    // `subject` holds the same Patients as `patient` (Observation.patient = subject.where(resolve() is Patient)):
    // answered from the token index too; `performer` (which may also point to Patients) is not
    await expectPatients(['_has:Observation:subject:code', `${SYS}|A`], withA);
    const shape = async (name: string) => {
      const statements: string[] = [];
      await new PgSearchEngine(registry).search({ query: (c: any) => (statements.push(c.text), pool.query(c)) } as any, { resourceType: 'Patient', params: [[name, `${SYS}|A`]], strict: true, baseUrl: 'http://hub/fhir' } as any);
      return statements.at(-1)!;
    };
    expect(await shape('_has:Observation:subject:code')).toMatch(/prid/);
    expect(await shape('_has:Observation:performer:code')).not.toMatch(/prid/);

    // an Observation moved to another patient; one deleted; a patient deleted
    const moved = (await pool.query(`SELECT r.id FROM sp_token t JOIN resource r ON r.rid = t.rid JOIN sp_reference h ON h.rid = t.rid AND h.tid = $2 WHERE t.sys = $1 AND t.code = 'B'`, [SYS, ids[5]])).rows[0].id;
    expect((await http('PUT', `Observation/${moved}`, { ...observation('B', ids[7]), id: moved })).status).toBe(200);
    const gone = (await pool.query(`SELECT r.id FROM sp_token t JOIN resource r ON r.rid = t.rid JOIN sp_reference h ON h.rid = t.rid AND h.tid = $2 WHERE t.sys = $1 AND t.code = 'A'`, [SYS, ids[2]])).rows[0].id;
    expect([200, 204]).toContain((await http('DELETE', `Observation/${gone}`)).status);
    expect([200, 204]).toContain((await http('DELETE', `Patient/${ids[6]}`)).status);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|B`], [ids[1], ids[7]]);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|A`], withA.filter((id) => id !== ids[2] && id !== ids[6]));
    // the patient back: its Observation counts again (the rid of a type and id never changes)
    expect([200, 201]).toContain((await http('PUT', `Patient/${ids[6]}`, patient(ids[6]))).status);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|A`], withA.filter((id) => id !== ids[2]));
  });

  it('follows the rows the column cannot answer: several patients, a patient that does not exist yet', async () => {
    const [p1, p2, p3, later] = ['m1', 'm2', 'm3', 'later'].map((s) => `hp-${run}-${s}`);
    await post([p1, p2, p3].map((id) => ({ resource: patient(id), method: 'PUT' as const })));
    // an Appointment's `patient` is every participant that is a Patient: two here (prid -1), one there
    const appointment = (code: string, who: string[]) => ({
      resourceType: 'Appointment',
      status: 'booked',
      start: '2030-01-01T09:00:00Z',
      end: '2030-01-01T09:30:00Z',
      serviceType: [{ coding: [{ system: SYS, code }] }],
      participant: who.map((id) => ({ actor: { reference: `Patient/${id}` }, status: 'accepted' })),
    });
    await post([
      { resource: appointment('S', [p1, p2]), method: 'POST' },
      { resource: appointment('S', [p3]), method: 'POST' },
      { resource: appointment('T', [p2, p2]), method: 'POST' }, // the same patient twice is one patient
    ]);
    const prid = async (code: string) =>
      (await pool.query(`SELECT DISTINCT prid::text FROM sp_token WHERE sys = $1 AND code = $2 AND pid = $3`, [SYS, code, registry.get('Appointment', 'service-type')!.pid])).rows.map((r) => r.prid).sort();
    expect(await prid('S')).toEqual([String(PRID_UNKNOWN), await ridOf('Patient', p3)].sort());
    expect(await prid('T')).toEqual([await ridOf('Patient', p2)]);
    await expectPatients(['_has:Appointment:patient:service-type', `${SYS}|S`], [p1, p2, p3]);
    await expectPatients(['_has:Appointment:patient:service-type', `${SYS}|T`], [p2]);

    // an Observation of a patient not stored yet: unknown until the Patient is created, then linked
    const [obs] = await post([{ resource: observation('L', later), method: 'POST' }]);
    expect(await pridsOf([obs])).toEqual([String(PRID_UNKNOWN)]);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|L`], []);
    expect((await http('PUT', `Patient/${later}`, patient(later))).status).toBe(201);
    expect(await pridsOf([obs])).toEqual([await ridOf('Patient', later)]);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|L`], [later]);
    // left at -1 (as a row written by a hub that did not link it would be), it is still found, the slow way
    await pool.query(`UPDATE sp_token SET prid = ${PRID_UNKNOWN} WHERE rid = $1`, [await ridOf('Observation', obs)]);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|L`], [later]);
  });

  it('the migration’s fill gives rows written before the column what the writer gives them', async () => {
    const ids = ['f1', 'f2'].map((s) => `hp-${run}-${s}`);
    const obs = await post([
      ...ids.map((id) => ({ resource: patient(id), method: 'PUT' as const })),
      { resource: observation('F', ids[0]), method: 'POST' },
      { resource: observation('F', ids[1]), method: 'POST' },
      { resource: { ...observation('F', ids[1]), subject: { reference: `Group/${run}` } }, method: 'POST' },
    ]);
    const observations = obs.slice(2);
    const rids = await Promise.all(observations.map((id) => ridOf('Observation', id)));
    const written = (await pool.query(`SELECT rid::text, pid, code, prid::text FROM sp_token WHERE rid = ANY($1) ORDER BY rid, pid, code`, [rids])).rows;
    expect(written.filter((r) => r.prid !== null).length).toBeGreaterThan(0);
    expect(written.filter((r) => r.rid === rids[2]).every((r) => r.prid === null)).toBe(true); // a Group's: none
    await pool.query(`UPDATE sp_token SET prid = NULL WHERE rid = ANY($1)`, [rids]);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|F`], []); // NULL is "no patient": the fill is needed
    await pool.query(fillPatientRidsSql(true), [patientParamPids(registry), rids]);
    expect((await pool.query(`SELECT rid::text, pid, code, prid::text FROM sp_token WHERE rid = ANY($1) ORDER BY rid, pid, code`, [rids])).rows).toEqual(written);
    await expectPatients(['_has:Observation:patient:code', `${SYS}|F`], ids);
  });
});
