import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { PgSearchEngine } from '../../src/fhir/search/pg-search-engine.js';
import type { FilterPlan } from '../../src/fhir/search/query/filter-plans.js';
import { codings, loadSynthea, ref, sorted, type Loaded } from './search-support.js';

/**
 * `_has` and full text run one of two ways, chosen from PostgreSQL's estimate of the matches (walk the resources
 * in page order, or gather every match first: src/fhir/search/query/filter-plans.ts). Which one a search gets
 * depends on the statistics of the moment, so this runs the search engine itself on the test hub's database with
 * each way forced, and checks both (and the estimate's choice) against the loaded JSON, pages included.
 */
let data: Loaded;
let pool: pg.Pool;
const registry = new SearchParamRegistry();

beforeAll(async () => {
  data = await loadSynthea(3, 20, 'has-plans');
  const pid = fs.readFileSync(path.join(inject('dataDir'), 'pg', 'postmaster.pid'), 'utf8').split('\n');
  pool = new pg.Pool({ connectionString: `postgres://hub:hub@127.0.0.1:${pid[3].trim()}/hub`, max: 2 });
  registry.warmUp();
});

afterAll(async () => {
  await pool?.end();
});

async function ids(plan: FilterPlan | undefined, query: [string, string][], count: number, resourceType = 'Patient'): Promise<string[]> {
  const engine = new PgSearchEngine(registry, { plan });
  const out: string[] = [];
  let params: [string, string][] = [...query, ['_tag', data.tag], ['_count', String(count)]];
  for (let page = 0; page < 50; page++) {
    const bundle = await engine.search(pool, { resourceType, params, strict: true, baseUrl: 'http://hub/fhir' } as any);
    out.push(...(bundle.entry ?? []).map((e: any) => ref(e.resource)));
    const next = bundle.link.find((l: any) => l.relation === 'next');
    if (!next) return out;
    params = [...new URL(next.url).searchParams.entries()] as [string, string][];
  }
  throw new Error('more than 50 pages');
}

describe('_has plans', () => {
  it('walk, gather and the estimate’s choice give the same patients, on every page', async () => {
    const obs = data.byType('Observation');
    const patients = data.byType('Patient');
    const withCode = (code: string) => new Set(obs.filter((o) => codings(o.code).some((c: any) => c.code === code)).map((o) => o.subject.reference));
    // a code every patient has, and the rarest code among the loaded ones
    const counts = new Map<string, number>();
    for (const o of obs) for (const c of codings(o.code)) counts.set(c.code, (counts.get(c.code) ?? 0) + 1);
    const common = [...counts.keys()].find((c) => patients.every((p) => withCode(c).has(ref(p))))!;
    const rare = [...counts.entries()].sort((a, b) => a[1] - b[1])[0][0];
    expect(common).toBeDefined();
    for (const code of [common, rare, 'no-such-code']) {
      const expected = sorted(patients.filter((p) => withCode(code).has(ref(p))).map(ref));
      for (const plan of ['walk', 'gather', undefined] as const) {
        for (const count of [1, 50]) {
          const got = await ids(plan, [['_has:Observation:patient:code', code]], count);
          expect(sorted(got), `${code} ${plan ?? 'estimated'} _count=${count}`).toEqual(expected);
          expect(new Set(got).size).toBe(got.length);
        }
      }
    }
  });

  it('_content: walk, gather and the estimate’s choice find the same resources, on every page', async () => {
    // the strings of a resource except references, systems, urls, ids, narrative and meta (R4 _content)
    const strings = (v: any, key = ''): string[] => {
      if (typeof v === 'string') return ['data', 'div', 'reference', 'system', 'url', 'id'].includes(key) ? [] : [v.toLowerCase()];
      if (Array.isArray(v)) return v.flatMap((x) => strings(x, key));
      if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => (k === 'meta' || k === 'resourceType' ? [] : strings(x, k)));
      return [];
    };
    // words between spaces (punctuation around them stripped); PostgreSQL's parser also reads 'a/b' as a path and
    // 'a-b' as a compound, so only words that never occur inside such tokens are used
    const reports = data.byType('DiagnosticReport').map((r) => {
      const text = strings(r).join(' ');
      return { ref: ref(r), text, words: new Set(text.split(/\s+/).map((w) => w.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, ''))) };
    });
    const clean = (w: string) => reports.every((r) => r.words.has(w) || !r.text.includes(w));
    const freq = new Map<string, number>();
    for (const r of reports) for (const w of r.words) if (/^[a-z]{5,}$/.test(w)) freq.set(w, (freq.get(w) ?? 0) + 1);
    const byFreq = [...freq.entries()].filter(([w]) => clean(w)).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    const [rare, common] = [byFreq[0][0], byFreq[byFreq.length - 1][0]];
    expect(freq.get(common)).toBeGreaterThan(2);
    for (const word of [rare, common, 'nosuchword']) {
      const expected = sorted(reports.filter((r) => r.words.has(word)).map((r) => r.ref));
      for (const plan of ['walk', 'gather', undefined] as const) {
        for (const count of [1, 50]) {
          const got = await ids(plan, [['_content', word]], count, 'DiagnosticReport');
          expect(sorted(got), `${word} ${plan ?? 'estimated'} _count=${count}`).toEqual(expected);
        }
      }
    }
  });
});

describe('estimates kept for values searched again', () => {
  it('asks PostgreSQL once per value and scope, and the second search finds the same', async () => {
    const engine = new PgSearchEngine(registry);
    const sent: string[] = [];
    const recorder = { query: (text: any, values?: any) => (sent.push(typeof text === 'string' ? text : text.text), pool.query(text, values)) };
    const search = async (resourceType: string, params: [string, string][]) => {
      sent.length = 0;
      const bundle = await engine.search(recorder as any, { resourceType, params: [...params, ['_tag', data.tag]], strict: true, baseUrl: 'http://hub/fhir' } as any);
      return { ids: sorted((bundle.entry ?? []).map((e: any) => ref(e.resource))), explains: sent.filter((s) => s.startsWith('EXPLAIN')).length };
    };
    const code = codings(data.byType('Observation')[0].code)[0].code;
    const has: [string, string][] = [['_has:Observation:patient:code', code]];
    const first = await search('Patient', has);
    expect(first.explains).toBe(2); // the inner matches and the targets
    expect(first.ids.length).toBeGreaterThan(0);
    const again = await search('Patient', has);
    expect(again).toEqual({ ids: first.ids, explains: 0 });
    // another value is estimated (the targets are known by now); another scope is a new key
    expect((await search('Patient', [['_has:Observation:patient:code', 'no-such-code']])).explains).toBe(1);
    expect((await search('DiagnosticReport', [['_content', 'panel']])).explains).toBe(1);
    expect((await search('DiagnosticReport', [['_content', 'panel']])).explains).toBe(0);
    expect((await search('Observation', [['_content', 'panel']])).explains).toBe(1);
  });
});
