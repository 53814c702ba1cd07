import type { Queryable } from '../../../modules/database/db.js';
import { readDefinitionBundle } from '../../definitions/r4-definitions.js';
import { FhirError } from '../../operation-outcome.js';

export interface SystemCode {
  /** '' matches any system */
  system: string;
  code: string;
}

const MAX_EXPANSION = 10_000;

/** The R4 CodeSystems and ValueSets shipped with the definitions, by canonical URL (loaded on first use). */
let builtIn: { codeSystems: Map<string, any>; valueSets: Map<string, any> } | undefined;
function definitions() {
  if (!builtIn) {
    const codeSystems = new Map<string, any>();
    const valueSets = new Map<string, any>();
    for (const { resource } of readDefinitionBundle('valuesets.json').entry) {
      if (resource.resourceType === 'CodeSystem') codeSystems.set(resource.url, resource);
      else if (resource.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
    }
    builtIn = { codeSystems, valueSets };
  }
  return builtIn;
}

/**
 * Just enough terminology for `:in`, `:not-in`, `:below` and `:above` on tokens: ValueSet expansion (explicit
 * concepts, whole code systems, is-a filters, nested value sets) and code system hierarchies, from the R4
 * definitions and from CodeSystem/ValueSet resources stored in the hub (looked up once per search by `prepare`).
 * A code system it does not know (SNOMED CT, LOINC) has no hierarchy here: `:below` then matches the code itself.
 */
export class Terminology {
  private readonly stored = new Map<string, any>();

  /** Loads the stored CodeSystems/ValueSets the given URLs name (one query), so later calls stay synchronous. */
  async prepare(q: Queryable, urls: string[]): Promise<void> {
    const wanted = [...new Set(urls.map((u) => u.split('|')[0]))].filter((u) => !definitions().valueSets.has(u) && !definitions().codeSystems.has(u));
    if (!wanted.length) return;
    const res = await q.query(
      `SELECT v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
       WHERE r.resource_type IN ('ValueSet', 'CodeSystem') AND NOT r.deleted AND v.content->>'url' = ANY($1::text[])`,
      [wanted],
    );
    for (const row of res.rows) this.stored.set(`${row.content.resourceType}|${row.content.url}`, row.content);
  }

  private codeSystem(url: string): any {
    return this.stored.get(`CodeSystem|${url}`) ?? definitions().codeSystems.get(url);
  }

  private valueSet(url: string): any {
    return this.stored.get(`ValueSet|${url}`) ?? definitions().valueSets.get(url);
  }

  expand(url: string, depth = 0): SystemCode[] {
    const vs = this.valueSet(url.split('|')[0]);
    if (!vs) throw FhirError.badRequest(`Unknown ValueSet '${url}'`);
    const out: SystemCode[] = [];
    const push = (system: string, code: string) => {
      if (out.length >= MAX_EXPANSION) throw FhirError.badRequest(`ValueSet '${url}' expands to more than ${MAX_EXPANSION} codes`);
      out.push({ system, code });
    };
    if (vs.expansion?.contains) {
      const walk = (items: any[]) => {
        for (const c of items ?? []) {
          if (c.code) push(c.system ?? '', c.code);
          walk(c.contains);
        }
      };
      walk(vs.expansion.contains);
      return out;
    }
    for (const inc of vs.compose?.include ?? []) {
      for (const nested of inc.valueSet ?? []) if (depth < 5) for (const c of this.expand(nested, depth + 1)) push(c.system, c.code);
      if (!inc.system) continue;
      if (inc.concept?.length) for (const c of inc.concept) push(inc.system, c.code);
      else if (inc.filter?.length) {
        for (const f of inc.filter) {
          if (f.property === 'concept' && (f.op === 'is-a' || f.op === 'descendent-of')) {
            for (const c of this.descendants(inc.system, f.value)) if (f.op === 'is-a' || c.code !== f.value) push(c.system, c.code);
          }
        }
      } else for (const code of this.allCodes(inc.system)) push(inc.system, code);
    }
    return out;
  }

  /** The code and every code below it (`:below`). */
  descendants(system: string, code: string): SystemCode[] {
    const cs = system ? this.codeSystem(system) : undefined;
    const node = cs ? findConcept(cs.concept, code) : undefined;
    if (!node) return [{ system, code }];
    const out: SystemCode[] = [];
    const walk = (c: any) => {
      out.push({ system, code: c.code });
      for (const child of c.concept ?? []) walk(child);
    };
    walk(node);
    return out;
  }

  /** The code and every code above it (`:above`). */
  ancestors(system: string, code: string): SystemCode[] {
    const cs = system ? this.codeSystem(system) : undefined;
    const path = cs ? pathTo(cs.concept ?? [], code) : undefined;
    if (!path) return [{ system, code }];
    return path.map((c) => ({ system, code: c }));
  }

  private allCodes(system: string): string[] {
    const cs = this.codeSystem(system);
    const out: string[] = [];
    const walk = (items: any[]) => {
      for (const c of items ?? []) {
        out.push(c.code);
        walk(c.concept);
      }
    };
    walk(cs?.concept ?? []);
    return out;
  }
}

function findConcept(items: any[] | undefined, code: string): any {
  for (const c of items ?? []) {
    if (c.code === code) return c;
    const found = findConcept(c.concept, code);
    if (found) return found;
  }
  return undefined;
}

function pathTo(items: any[], code: string): string[] | undefined {
  for (const c of items) {
    if (c.code === code) return [c.code];
    const sub = pathTo(c.concept ?? [], code);
    if (sub) return [c.code, ...sub];
  }
  return undefined;
}
