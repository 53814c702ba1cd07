import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { PgSearchEngine } from '../../src/fhir/search/pg-search-engine.js';
import type { HasPlan } from '../../src/fhir/search/query/filter-compiler.js';
import { codings, loadSynthea, ref, sorted, type Loaded } from './search-support.js';

/**
 * `_has` runs one of two ways, chosen from PostgreSQL's estimate of the inner matches (walk the targets, or gather
 * the targets of every match). Which one a search gets depends on the statistics of the moment, so this runs the
 * search engine itself on the test hub's database with each way forced, and checks both (and the estimate's
 * choice) against the loaded JSON, pages included.
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

async function ids(plan: HasPlan | undefined, query: [string, string][], count: number): Promise<string[]> {
  const engine = new PgSearchEngine(registry, { hasPlan: plan });
  const out: string[] = [];
  let params: [string, string][] = [...query, ['_tag', data.tag], ['_count', String(count)]];
  for (let page = 0; page < 50; page++) {
    const bundle = await engine.search(pool, { resourceType: 'Patient', params, strict: true, baseUrl: 'http://hub/fhir' } as any);
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
});
