import fs from 'node:fs';
import path from 'node:path';
import { fhirBase, http } from '../support/hub.js';
import { expect } from 'vitest';

/**
 * Loads Synthea patient bundles through the REST door (transactions) and returns the resources as the server holds
 * them (server ids, urn:uuid references rewritten to Type/id), computed here from the JSON files and the
 * transaction responses only, so tests can compute expected search results independently of the search code.
 */
export const SYNTHEA_DIR = path.resolve(process.cwd(), '../shared/data/synthea');

export interface Loaded {
  /** tag (system|code) put on every loaded resource, to keep other tests' data out of the expectations */
  tag: string;
  resources: any[];
  byType(type: string): any[];
  ms: number;
}

export async function loadSynthea(count: number, skip: number, tagCode: string): Promise<Loaded> {
  const files = fs.readdirSync(SYNTHEA_DIR).filter((f) => !f.startsWith('hospital') && !f.startsWith('practitioner')).sort().slice(skip, skip + count);
  const resources: any[] = [];
  const t0 = performance.now();
  for (const f of files) {
    const bundle = JSON.parse(fs.readFileSync(path.join(SYNTHEA_DIR, f), 'utf8'));
    for (const e of bundle.entry) {
      const meta = e.resource.meta ?? {};
      e.resource.meta = { ...meta, tag: [...(meta.tag ?? []), { system: 'urn:search-test', code: tagCode }] };
    }
    const res = await http('POST', fhirBase(), bundle);
    if (res.status !== 200) throw new Error(`loading ${f}: ${res.status} ${res.text.slice(0, 500)}`);
    const map = new Map<string, string>();
    bundle.entry.forEach((e: any, i: number) => {
      const loc: string = res.body.entry[i].response.location;
      const [type, id] = loc.split('/');
      map.set(e.fullUrl, `${type}/${id}`);
      e.resource.id = id;
    });
    for (const e of bundle.entry) resources.push(rewrite(e.resource, map));
  }
  const ms = performance.now() - t0;
  return { tag: `urn:search-test|${tagCode}`, resources, byType: (t) => resources.filter((r) => r.resourceType === t), ms };
}

function rewrite(v: any, map: Map<string, string>): any {
  if (Array.isArray(v)) return v.map((x) => rewrite(x, map));
  if (v && typeof v === 'object') {
    const out: any = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === 'reference' && typeof x === 'string' && map.has(x) ? map.get(x) : rewrite(x, map);
    return out;
  }
  return v;
}

/** Every id a search returns, following `next` links; checks page sizes and duplicates on the way. */
export async function searchAll(query: string, pageSize = 50): Promise<{ ids: string[]; pages: number; first: any }> {
  const sep = query.includes('?') ? '&' : '?';
  let url: string | undefined = `${query}${sep}_count=${pageSize}`;
  const ids: string[] = [];
  let pages = 0;
  let first: any;
  while (url) {
    const r: { status: number; body: any; text: string } = await http('GET', url);
    if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.text.slice(0, 500)}`);
    first ??= r.body;
    pages++;
    const matches = (r.body.entry ?? []).filter((e: any) => e.search?.mode === 'match');
    if (matches.length > pageSize) throw new Error(`page larger than _count: ${matches.length}`);
    ids.push(...matches.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`));
    url = r.body.link?.find((l: any) => l.relation === 'next')?.url;
    if (pages > 1000) throw new Error('too many pages');
  }
  return { ids, pages, first };
}

export const ref = (r: any) => `${r.resourceType}/${r.id}`;

export const sorted = (xs: string[]) => [...xs].sort();

/** Every CodeableConcept coding of a value (CodeableConcept or array of them). */
export function codings(cc: any): any[] {
  if (!cc) return [];
  if (Array.isArray(cc)) return cc.flatMap(codings);
  return cc.coding ?? [];
}

/** [lo, hi] in epoch ms of a FHIR dateTime with second precision or a Period (open end → ±Infinity). */
export function span(v: any): [number, number] | undefined {
  if (!v) return undefined;
  if (typeof v === 'string') {
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      const lo = Date.parse(`${v}T00:00:00Z`);
      return [lo, lo + 86_400_000 - 1];
    }
    const lo = Date.parse(v);
    const frac = /\.\d+/.test(v);
    return [lo, frac ? lo : lo + 999];
  }
  const s = v.start ? span(v.start)![0] : -Infinity;
  const e = v.end ? span(v.end)![1] : Infinity;
  return [s, e];
}

export const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

/**
 * Every page of an engine search (`run` takes the query parameters), forwards from the first page by the `next`
 * links; then backwards from the last by the `previous` links, which must give the same pages in the same order.
 * The ids of each page.
 */
export async function pagesBothWays(run: (params: [string, string][]) => Promise<any>, query: [string, string][], count: number, label: string): Promise<string[][]> {
  const params = (link: any) => [...new URL(link.url).searchParams.entries()] as [string, string][];
  const ids = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => e.resource.id);
  const out: string[][] = [];
  let bundle = await run([...query, ['_count', String(count)]]);
  for (let i = 0; ; i++) {
    expect(i, `${label}: more than 100 pages`).toBeLessThan(100);
    out.push(ids(bundle));
    const next = bundle.link.find((l: any) => l.relation === 'next');
    if (!next) break;
    bundle = await run(params(next));
  }
  const back: string[][] = [out[out.length - 1]];
  for (let prev = bundle.link.find((l: any) => l.relation === 'previous'); prev; ) {
    const b = await run(params(prev));
    back.unshift(ids(b));
    prev = b.link.find((l: any) => l.relation === 'previous');
  }
  expect(back, `${label} backwards`).toEqual(out);
  return out;
}
