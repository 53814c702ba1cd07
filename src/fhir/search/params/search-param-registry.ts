import { R4Definitions } from '../../definitions/r4-definitions.js';
import { compileSearchExpression, type PathEvaluator } from '../extract/fhirpath-compiler.js';

export type SearchParamType = 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

export interface CompositeComponent {
  type: SearchParamType;
  url: string;
  expression: string;
  /** evaluator for nodes whose children live in context `ctx` (compiled on first use, then cached) */
  evaluatorFor(ctx: string | undefined): PathEvaluator;
}

/** One search parameter as it applies to one resource type, ready to extract and to query. */
export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  url: string;
  resourceType: string;
  /** key of its index rows: a stable hash of `Type.code` (stable across processes and restarts) */
  pid: number;
  expression?: string;
  /** undefined for parameters answered from the resource table (`_id`, `_lastUpdated`) or specially */
  evaluate?: PathEvaluator;
  targets: string[];
  components?: CompositeComponent[];
  /** parameters served from `resource` columns instead of index tables */
  column?: 'id' | 'last_updated';
  custom: boolean;
}

/** Parameters whose values are not index rows of their own. */
const SERVED_ELSEWHERE = new Set(['_id', '_lastUpdated', '_text', '_content', '_query', '_list', '_has', '_type']);

/**
 * Every search parameter per resource type: the official R4 SearchParameters plus custom SearchParameter resources.
 * Extractors are compiled once per (type, parameter) when a type is first used, then reused for every write.
 */
export class SearchParamRegistry {
  private readonly definitions: any[];
  private readonly custom = new Map<string, any>();
  private readonly byType = new Map<string, Map<string, SearchParamDef>>();
  private readonly byUrl = new Map<string, any>();
  private readonly resourceTypes: ReadonlySet<string>;

  constructor(defs: R4Definitions = R4Definitions.get()) {
    this.definitions = defs.searchParameters;
    this.resourceTypes = defs.resourceTypes;
    for (const sp of this.definitions) this.byUrl.set(sp.url, sp);
  }

  isResourceType(type: string): boolean {
    return this.resourceTypes.has(type);
  }

  private sortedTypes?: string[];
  allResourceTypes(): string[] {
    return (this.sortedTypes ??= [...this.resourceTypes].sort());
  }

  /** Compiles every type's extractors now (~0.1 s) instead of on each type's first write. */
  warmUp(): this {
    for (const t of this.allResourceTypes()) this.indexed(t);
    return this;
  }

  /** The parameters of `resourceType` by code (including the Resource-level ones). */
  forType(resourceType: string): Map<string, SearchParamDef> {
    let map = this.byType.get(resourceType);
    if (!map) {
      map = this.build(resourceType);
      this.byType.set(resourceType, map);
    }
    return map;
  }

  get(resourceType: string, code: string): SearchParamDef | undefined {
    return this.forType(resourceType).get(code);
  }

  /** Parameters that produce index rows for `resourceType`, in a stable order. */
  indexed(resourceType: string): SearchParamDef[] {
    const key = `${resourceType}#indexed`;
    let cached = this.indexedCache.get(key);
    if (!cached) {
      cached = [...this.forType(resourceType).values()].filter((d) => d.evaluate);
      this.indexedCache.set(key, cached);
    }
    return cached;
  }
  private readonly indexedCache = new Map<string, SearchParamDef[]>();

  /**
   * Adds (or replaces) the SearchParameter resource stored as `SearchParameter/{id}`. New writes are indexed with it
   * at once; existing resources after a `$reindex`. A definition that does not apply (no code/type/base, retired, an
   * official URL, or a code an official parameter already has on that base) or does not compile is left out.
   */
  registerStored(id: string, sp: any): boolean {
    this.unregisterStored(id);
    if (!sp?.code || !sp?.type || !Array.isArray(sp.base) || !sp.base.length || sp.status === 'retired') return false;
    if (this.definitions.some((d) => d.url === sp.url)) return false;
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(sp.code)) return false;
    const bases = (sp.base as string[]).filter((b) => this.resourceTypes.has(b) && !this.definitions.some((d) => d.code === sp.code && d.base?.includes(b)));
    if (!bases.length) return false;
    const custom = { ...sp, base: bases };
    try {
      for (const b of bases) if (sp.expression && sp.type !== 'composite') compileSearchExpression(sp.expression, b);
    } catch {
      return false;
    }
    this.custom.set(id, custom);
    if (sp.url) this.byUrl.set(sp.url, custom);
    for (const base of bases) this.invalidate(base);
    return true;
  }

  unregisterStored(id: string): void {
    const sp = this.custom.get(id);
    if (!sp) return;
    this.custom.delete(id);
    for (const base of sp.base) this.invalidate(base);
  }

  storedIds(): string[] {
    return [...this.custom.keys()];
  }

  customParameters(): any[] {
    return [...this.custom.values()];
  }

  private invalidate(base: string): void {
    if (base === 'Resource' || base === 'DomainResource') {
      this.byType.clear();
      this.indexedCache.clear();
    } else {
      this.byType.delete(base);
      this.indexedCache.delete(`${base}#indexed`);
    }
  }

  private build(resourceType: string): Map<string, SearchParamDef> {
    const map = new Map<string, SearchParamDef>();
    const applies = (sp: any) => sp.base?.includes(resourceType) || sp.base?.includes('Resource') || (sp.base?.includes('DomainResource') && resourceType !== 'Bundle' && resourceType !== 'Binary' && resourceType !== 'Parameters');
    for (const [list, custom] of [[this.definitions, false], [[...this.custom.values()], true]] as const) {
      for (const sp of list) {
        if (!applies(sp) || sp.status === 'retired') continue;
        const def = this.compile(resourceType, sp, custom);
        if (def) map.set(def.code, def);
      }
    }
    return map;
  }

  private compile(resourceType: string, sp: any, custom: boolean): SearchParamDef | undefined {
    const code: string = sp.code;
    const def: SearchParamDef = {
      code,
      type: sp.type,
      url: sp.url,
      resourceType,
      pid: paramId(resourceType, code),
      expression: sp.expression,
      targets: sp.target ?? [],
      custom,
    };
    if (code === '_id') def.column = 'id';
    else if (code === '_lastUpdated') def.column = 'last_updated';
    if (SERVED_ELSEWHERE.has(code) || !sp.expression || sp.type === 'special') return def;
    try {
      if (sp.type === 'composite') {
        def.evaluate = compileSearchExpression(sp.expression, resourceType);
        def.components = (sp.component ?? []).map((c: any) => this.component(resourceType, sp, c));
      } else def.evaluate = compileSearchExpression(sp.expression, resourceType);
    } catch {
      return undefined; // an expression fhirpath.js cannot compile is not offered
    }
    return def;
  }

  private component(resourceType: string, sp: any, c: any): CompositeComponent {
    const target = this.byUrl.get(c.definition);
    // The composite's base expression picks nodes (e.g. Observation | Observation.component); each component is
    // evaluated relative to a node, so it is compiled once per node context.
    const cache = new Map<string, PathEvaluator>();
    const expression: string = c.expression;
    return {
      type: target?.type ?? 'token',
      url: c.definition,
      expression,
      evaluatorFor(ctx) {
        const key = ctx ?? resourceType;
        let fn = cache.get(key);
        if (!fn) cache.set(key, (fn = compileSearchExpression(expression, resourceType, key)));
        return fn;
      },
    };
  }
}

/** FNV-1a of `Type.code` as a signed 32-bit integer: the index tables' parameter key. */
export function paramId(resourceType: string, code: string): number {
  const s = `${resourceType}.${code}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
