import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Db, GENERIC_PLAN } from '../../src/modules/database/db.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { PgSearchEngine } from '../../src/fhir/search/pg-search-engine.js';
import { loadSynthea, pagesBothWays } from './search-support.js';
import { http } from '../support/hub.js';

/**
 * Statements the search engine marks `generic` (a page read in sort-index order, nothing else to filter) go to
 * Db's second pool, whose connections use generic plans only; everything else, and transactions, stay on the pool.
 */
let url: string;
let pool: pg.Pool;
let genericPool: pg.Pool;
const registry = new SearchParamRegistry();

beforeAll(async () => {
  await loadSynthea(2, 20, 'generic-plans'); // Observations to page through (the database is shared with other files)
  const pid = fs.readFileSync(path.join(inject('dataDir'), 'pg', 'postmaster.pid'), 'utf8').split('\n');
  url = `postgres://hub:hub@127.0.0.1:${pid[3].trim()}/hub`;
  pool = new pg.Pool({ connectionString: url, max: 2 });
  genericPool = new pg.Pool({ connectionString: url, max: 2, options: `-c ${GENERIC_PLAN}` });
  registry.warmUp();
});

afterAll(async () => {
  await pool?.end();
  await genericPool?.end();
});

describe('generic plans', () => {
  it('Db sends a statement marked generic to connections that plan generically, the rest to the pool', async () => {
    const db = new Db(pool, genericPool);
    const mode = async (config: object) => (await db.query({ text: 'SHOW plan_cache_mode', ...config })).rows[0].plan_cache_mode;
    expect(await mode({ generic: true })).toBe('force_generic_plan');
    expect(await mode({})).toBe('auto');
    expect(await mode({ generic: false })).toBe('auto');
    // without a second pool the mark is ignored; in a transaction too
    expect((await new Db(pool).query({ text: 'SHOW plan_cache_mode', generic: true } as any)).rows[0].plan_cache_mode).toBe('auto');
    expect(await db.transaction(async (tx) => (await tx.query({ text: 'SHOW plan_cache_mode', generic: true } as any)).rows[0].plan_cache_mode)).toBe('auto');
  });

  it('the engine marks only pages read in sort-index order with nothing else to filter, and they find the same', async () => {
    const engine = new PgSearchEngine(registry);
    const marks: boolean[] = [];
    const db = new Db(pool, genericPool);
    const recorder = { query: (config: any) => (marks.push(config.generic === true), db.query(config)) };
    const search = async (resourceType: string, params: [string, string][], compartment?: { type: string; id: string }) => {
      marks.length = 0;
      const bundle = await engine.search(recorder as any, { resourceType, params, compartment, strict: true, baseUrl: 'http://hub/fhir' } as any);
      return { marked: marks.at(-1), ids: (bundle.entry ?? []).map((e: any) => e.resource.id) };
    };
    const sorted = await search('Observation', [['_sort', '-date'], ['_count', '5']]);
    expect(sorted.marked).toBe(true);
    expect(sorted.ids.length).toBe(5);
    // the same page from a plain connection (no generic plans) is the same page
    const plain = await engine.search(pool as any, { resourceType: 'Observation', params: [['_sort', '-date'], ['_count', '5']], strict: true, baseUrl: 'http://hub/fhir' } as any);
    expect(sorted.ids).toEqual((plain.entry ?? []).map((e: any) => e.resource.id));
    expect((await search('Observation', [['_sort', '-date'], ['code', 'x']])).marked).toBe(false);
    expect((await search('Observation', [['code', 'x']])).marked).toBe(false);
    expect((await search('Observation', [])).marked).toBe(false);
    expect((await search('Observation', [['_sort', '-date']], { type: 'Patient', id: 'p1' })).marked).toBe(false);
    expect((await search('Observation', [['_sort', '-date'], ['_include', 'Observation:patient']])).marked).toBe(false);
    // _has and full text, run the way the hub chose for the value: marked, and the same on both kinds of connection
    const code = (await pool.query(`SELECT code FROM sp_token t JOIN resource r ON r.rid = t.rid AND r.resource_type = 'Observation' WHERE t.code ~ '^[0-9]+-[0-9]$' LIMIT 1`)).rows[0].code;
    for (const [type, params] of [['Patient', [['_has:Observation:patient:code', code]]], ['DiagnosticReport', [['_content', 'panel']]]] as [string, [string, string][]][]) {
      const generic = await search(type, [...params, ['_count', '50']]);
      expect(generic.marked, type).toBe(true);
      expect(generic.ids.length, type).toBeGreaterThan(0);
      const plainBundle = await engine.search(pool as any, { resourceType: type, params: [...params, ['_count', '50']], strict: true, baseUrl: 'http://hub/fhir' } as any);
      expect(generic.ids).toEqual((plainBundle.entry ?? []).map((e: any) => e.resource.id));
      expect((await search(type, [...params, ['_id', 'x']])).marked, `${type} with another filter`).toBe(false);
    }
  });
});

describe('anchored searches', () => {
  it('probe each of the patient’s resources by rid, fenced from the value indexes, and find the same', async () => {
    // Whatever ANALYZE estimates, a cached generic plan must not intersect the rid index with a value index (at 1M
    // that read all 43,313 rows of a common code for every probe): each probe reads the row's own index rows only.
    const { rows } = await pool.query(`SELECT h.tid, t.sys, t.code FROM sp_reference h JOIN sp_token t ON t.rid = h.rid AND t.pid = $1
                                       WHERE h.pid = $2 AND h.rtype = 'Patient' AND t.sys = 'http://loinc.org' LIMIT 1`, [registry.get('Observation', 'code')!.pid, registry.get('Observation', 'patient')!.pid]);
    const [{ tid, sys, code }] = rows;
    // `subject`, not `patient`: the token is probed too (with `patient` the token's rows are the anchor)
    const params: [string, string][] = [['subject', `Patient/${tid}`], ['code', `${sys}|${code}`], ['date', 'ge1900-01-01'], ['_count', '100']];
    const statements: string[] = [];
    const recorder = { query: (config: any) => (statements.push(config.text), pool.query(config)) };
    const engine = new PgSearchEngine(registry);
    const bundle = await engine.search(recorder as any, { resourceType: 'Observation', params, strict: true, baseUrl: 'http://hub/fhir' } as any);
    const page = statements.at(-1)!;
    expect(page).toMatch(/FROM \(SELECT \* FROM sp_token WHERE rid = a\d+\.rid OFFSET 0\) x\d+ WHERE/);
    expect(page).toMatch(/FROM \(SELECT \* FROM sp_date WHERE rid = a\d+\.rid OFFSET 0\) x\d+ WHERE/);
    expect(page).not.toMatch(/FROM sp_token x\d+ WHERE x\d+\.rid = a\d+\.rid/);
    // the same Observations as the patient's resources with that coding, straight from the index tables
    const expected = await pool.query(`SELECT r.id FROM sp_reference h JOIN resource r ON r.rid = h.rid AND NOT r.deleted
                                        WHERE h.pid = $1 AND h.tid = $2 AND h.rtype = 'Patient' AND r.resource_type = 'Observation'
                                          AND EXISTS (SELECT 1 FROM sp_token t WHERE t.rid = h.rid AND t.pid = $3 AND t.sys = $4 AND t.code = $5)
                                          AND EXISTS (SELECT 1 FROM sp_date d WHERE d.rid = h.rid AND d.pid = $6 AND d.hi >= '1900-01-01') ORDER BY r.rid`,
      [registry.get('Observation', 'patient')!.pid, tid, registry.get('Observation', 'code')!.pid, sys, code, registry.get('Observation', 'date')!.pid]);
    expect(expected.rows.length).toBeGreaterThan(0);
    expect((bundle.entry ?? []).map((e: any) => e.resource.id)).toEqual(expected.rows.map((r) => r.id));
  });
});

describe('a page by one date parameter: read from the matches’ rids, or walked', () => {
  it('both ways give the same resources in rid order, on every page, forwards and backwards; and over HTTP', async () => {
    // Encounters of a year no other test file uses (the test database is shared): 23 in 1801, periods of a day or
    // a month, 4 open-ended ones starting that year, plus 3 just outside it
    const start = (i: number) => `1801-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 27)).padStart(2, '0')}`;
    const entries = [
      ...Array.from({ length: 19 }, (_, i) => ({ period: i % 3 ? { start: `${start(i)}T08:00:00Z`, end: `${start(i)}T09:00:00Z` } : { start: `${start(i)}T00:00:00Z`, end: `${start(i).slice(0, 7)}-28T00:00:00Z` } })),
      ...Array.from({ length: 4 }, (_, i) => ({ period: { start: `${start(i)}T10:00:00Z` } })),
      { period: { start: '1800-12-31T23:00:00Z', end: '1801-01-01T01:00:00Z' } },
      { period: { start: '1802-01-01T00:00:00Z', end: '1802-01-01T01:00:00Z' } },
      { period: { start: '1799-06-01T00:00:00Z', end: '1799-06-02T00:00:00Z' } },
    ].map((e) => ({ resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, ...e }, request: { method: 'POST', url: 'Encounter' } }));
    const posted = await http('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(posted.status).toBe(200);
    const ids: string[] = posted.body.entry.map((e: any) => e.response.location.split('/')[1]);
    const db = new Db(pool, genericPool);
    const pages = (cap: number | undefined, query: [string, string][], count: number) => {
      const engine = new PgSearchEngine(registry, { candidatesCap: cap });
      const run = (params: [string, string][]) => engine.search(db, { resourceType: 'Encounter', params, strict: true, baseUrl: 'http://hub/fhir' } as any);
      return pagesBothWays(run, query, count, `${cap} ${JSON.stringify(query)}`);
    };
    const expected = {
      // within the year: the 19 closed periods, not the open-ended ones (they reach beyond it) nor the neighbours
      '1801': ids.slice(0, 19),
      // overlapping March 1801 (±10 % of the distance to now): every period of 1801, the neighbours too
      'ap1801-03-15': ids,
      '1801-01': ids.filter((_, i) => i < 19 && (i % 12) === 0),
    };
    for (const [value, want] of Object.entries(expected)) {
      for (const count of [4, 50]) {
        const walked = await pages(0, [['date', value]], count);
        const read = await pages(1_000_000, [['date', value]], count);
        const usual = await pages(undefined, [['date', value]], count);
        expect(walked.flat(), `${value} _count=${count}`).toEqual(read.flat());
        expect(usual).toEqual(read);
        expect(read).toEqual(walked);
        expect(new Set(read.flat())).toEqual(new Set(want));
        expect(read.flat()).toEqual([...read.flat()].sort((a, b) => Number(ids.indexOf(a)) - Number(ids.indexOf(b))));
      }
    }
    // the hub itself (its generic-plan pool): the same first page
    const res = await http('GET', 'Encounter?date=1801&_count=50');
    expect(res.status).toBe(200);
    expect(new Set(res.body.entry.map((e: any) => e.resource.id))).toEqual(new Set(expected['1801']));
  });
});

interface PlanNode {
  'Node Type': string;
  'Alias'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** The generic plan PostgreSQL makes for a statement (`EXPLAIN (GENERIC_PLAN)`). */
async function genericPlan(text: string): Promise<PlanNode> {
  const res = await pool.query(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${text}`);
  return res.rows[0]['QUERY PLAN'][0].Plan;
}

/** The nodes of a plan, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('consent searches', () => {
  const facts = { base: 'opt-out', organizations: [], actors: ['Practitioner/generic-plans'], purposes: [], actions: ['access'], breakGlassPatients: [] };
  it('are planned once when their matches are common or anchored on a patient, not when rare, and find the same', async () => {
    const db = new Db(pool, genericPool);
    const engine = new PgSearchEngine(registry);
    const run = async (resourceType: string, params: [string, string][], q: any = db) => {
      let marked = false;
      let text = '';
      const recorder = {
        inTransaction: q.inTransaction,
        query: (config: any) => {
          if (typeof config === 'object' && config.name?.startsWith('fs_')) {
            marked = config.generic === true;
            text = config.text;
          }
          return q.query(config);
        },
      };
      const bundle = await engine.search(recorder as any, { resourceType, params, strict: true, baseUrl: 'http://hub/fhir', restriction: { consent: facts } } as any);
      return { marked, ids: (bundle.entry ?? []).map((e: any) => e.resource.id), text, links: bundle.link as { relation: string; url: string }[] };
    };
    const common = await run('Observation', [['status', 'final'], ['_count', '10']]);
    expect(common.marked).toBe(true);
    expect(common.ids.length).toBe(10);
    // planned once, its matches are fenced by a bound LIMIT (not OFFSET 0), so that the generic plan reads them in
    // page order until the page is full instead of reading and sorting every match
    expect(common.text).toMatch(/ORDER BY rid ASC LIMIT \$\d+::bigint\) r0 WHERE/);
    expect(common.text).not.toMatch(/OFFSET 0\) r0 WHERE/);
    // compiled twice (estimated, then written as a walk): the links carry each parameter once
    const next = new URL(common.links.find((l) => l.relation === 'next')!.url);
    expect(next.searchParams.getAll('status')).toEqual(['final']);
    const matches = nodes(await genericPlan(common.text)).find((n) => n['Node Type'] === 'Subquery Scan' && n.Alias === 'r0')!;
    expect(matches).toBeDefined();
    expect(nodes(matches).map((n) => n['Node Type'])).not.toContain('Sort');
    // the same page on custom plans (the plain pool) and in a transaction (never marked there)
    expect((await run('Observation', [['status', 'final'], ['_count', '10']], pool)).ids).toEqual(common.ids);
    const inTx = await db.transaction((tx) => run('Observation', [['status', 'final'], ['_count', '10']], tx));
    expect(inTx).toMatchObject({ marked: false, ids: common.ids });
    expect((await run('Observation', [['code', 'no-such-code']])).marked).toBe(false);
    // only searches by token parameters are estimated (a name is a free value, searched once)
    expect((await run('Patient', [['name', 'a']])).marked).toBe(false);
    const patient = (await pool.query(`SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted LIMIT 1`)).rows[0].id;
    // anchored on a patient: planned once too (its plan reads the patient's rows whatever the patient), but not as
    // a walk (a generic plan under a bound LIMIT would walk every Observation)
    const anchored = await run('Observation', [['subject', `Patient/${patient}`]]);
    expect(anchored.marked).toBe(true);
    expect(anchored.text).toMatch(/OFFSET 0\) r0 WHERE/);
    const own = nodes(await genericPlan(anchored.text)).find((n) => n['Node Type'] === 'Subquery Scan' && n.Alias === 'r0')!;
    expect(nodes(own.Plans![0]).map((n) => n['Index Name'])).toContain('sp_reference_target'); // the patient's rows, from the reference index
    expect((await run('Observation', [['subject', `Patient/${patient}`]], pool)).ids).toEqual(anchored.ids);
  });
});
