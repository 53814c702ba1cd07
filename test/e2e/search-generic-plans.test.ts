import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Db, GENERIC_PLAN } from '../../src/modules/database/db.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { PgSearchEngine } from '../../src/fhir/search/pg-search-engine.js';
import { loadSynthea } from './search-support.js';

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
  });
});
