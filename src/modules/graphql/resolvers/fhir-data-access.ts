import DataLoader from 'dataloader';
import { FhirError } from '../../../fhir/operation-outcome.js';
import { resultResource, type Interaction, type InteractionKind, type QueryParams } from '../../../fhir/pipeline/interaction.js';
import type { FhirPipeline } from '../../../fhir/pipeline/pipeline.js';
import type { Principal } from '../../../fhir/pipeline/principal.js';
import { parseQueryString } from '../../../fhir/pipeline/request-parser.js';
import type { SearchParamRegistry } from '../../../fhir/search/params/search-param-registry.js';

/** Resources handed to GraphQL carry the resource that contains them, for `#id` references to contained resources. */
export const CONTAINER = Symbol('container');

/** Who asks and where: one per GraphQL HTTP request. */
export interface DoorRequest {
  principal: Principal;
  requestId?: string;
  baseUrl: string;
}

export interface PagingLimits {
  defaultPageSize: number;
  maxPageSize: number;
}

/** A reverse-reference search for one parent: `ObservationList(_reference: patient, ...)` on Patient/1. */
export interface ReverseKey {
  type: string;
  /** the reference search parameter code */
  param: string;
  /** `Patient/1` */
  parent: string;
  /** the other search parameters, without paging */
  params: QueryParams;
  count?: number;
  offset?: number;
}

/** How many pages of a batched reverse search are read at most (each `maxPageSize` resources). */
const MAX_REVERSE_PAGES = 10;

/**
 * Every data access of one GraphQL request, as pipeline interactions built like the REST door builds them
 * (door 'graphql', the request's principal): the pipeline's stages (scopes, patient compartment, consent, audit)
 * apply to each, and the engine compiles the stages' restrictions into its SQL. Nothing here touches the store or
 * the search engine directly.
 *
 * References and reverse references are batched per request (DataLoader): the references resolved in one
 * execution step become one `_id=a,b,c` search per resource type; reverse references of many parents become one
 * search with `param=Type/1,Type/2,...`, grouped by parent afterwards.
 */
export class FhirDataAccess {
  readonly references: DataLoader<string, any | null>;
  readonly reverse: DataLoader<ReverseKey, any[], string>;
  /** `@slice` keys of list fields by response path, for the directive post-processing */
  readonly slices = new Map<string, string[]>();

  constructor(
    private readonly pipeline: FhirPipeline,
    private readonly registry: SearchParamRegistry,
    readonly request: DoorRequest,
    readonly limits: PagingLimits,
  ) {
    this.references = new DataLoader((keys) => this.loadReferences(keys), { maxBatchSize: limits.maxPageSize });
    this.reverse = new DataLoader((keys) => this.loadReverse(keys), { cacheKeyFn: (k) => JSON.stringify(k) });
  }

  get baseUrl(): string {
    return this.request.baseUrl;
  }

  interaction(kind: InteractionKind, extra: Partial<Interaction> = {}): Interaction {
    return { kind, params: [], prefer: {}, principal: this.request.principal, door: 'graphql', requestId: this.request.requestId, ...extra };
  }

  execute(ix: Interaction) {
    return this.pipeline.execute(ix, { baseUrl: this.request.baseUrl });
  }

  /** A read interaction; the resource, tagged as its own container. Unknown and deleted resources are FhirErrors. */
  async read(type: string, id: string): Promise<any> {
    const result = await this.execute(this.interaction('read', { resourceType: type, id }));
    const resource = resultResource(result);
    this.references.prime(`${type}/${id}`, tag(resource));
    return resource;
  }

  /**
   * A search-type interaction; the searchset Bundle with every resource tagged. Strict (Prefer: handling=strict):
   * GraphQL has no place for the warnings of a lenient search, and a filter silently ignored would widen the answer.
   */
  async search(type: string, params: QueryParams): Promise<any> {
    const result = await this.execute(this.interaction('search-type', { resourceType: type, params, prefer: { handling: 'strict' } }));
    const bundle = resultResource(result);
    for (const e of bundle.entry ?? []) if (e.resource) tag(e.resource);
    return bundle;
  }

  private async loadReferences(keys: readonly string[]): Promise<(any | null | Error)[]> {
    const byType = new Map<string, string[]>();
    for (const key of keys) {
      const [type, id] = key.split('/');
      if (!byType.has(type)) byType.set(type, []);
      if (!byType.get(type)!.includes(id)) byType.get(type)!.push(id);
    }
    const found = new Map<string, any | Error>();
    await Promise.all(
      [...byType].map(async ([type, ids]) => {
        try {
          if (ids.length === 1) {
            found.set(`${type}/${ids[0]}`, await this.read(type, ids[0]));
            return;
          }
          const bundle = await this.search(type, [['_id', ids.join(',')], ['_count', String(ids.length)]]);
          for (const e of bundle.entry ?? []) if (e.search?.mode === 'match') found.set(`${type}/${e.resource.id}`, e.resource);
        } catch (e) {
          // unknown or deleted: the reference cannot be resolved; anything else (403, 400) is the caller's error
          if (e instanceof FhirError && (e.status === 404 || e.status === 410)) return;
          for (const id of ids) found.set(`${type}/${id}`, e as Error);
        }
      }),
    );
    return keys.map((k) => found.get(k) ?? null);
  }

  private async loadReverse(keys: readonly ReverseKey[]): Promise<any[][]> {
    const groups = new Map<string, ReverseKey[]>();
    for (const k of keys) {
      const g = JSON.stringify([k.type, k.param, k.params, k.count, k.offset]);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(k);
    }
    const results = new Map<ReverseKey, any[]>();
    await Promise.all([...groups.values()].map((group) => this.reverseGroup(group, results)));
    return keys.map((k) => results.get(k) ?? []);
  }

  /** One search for every parent of the group; with one parent the paging is the search's own. */
  private async reverseGroup(group: ReverseKey[], out: Map<ReverseKey, any[]>): Promise<void> {
    const { type, param, params, count, offset } = group[0];
    const parents = [...new Set(group.map((k) => k.parent))];
    const wanted = Math.min(count ?? this.limits.defaultPageSize, this.limits.maxPageSize);
    if (parents.length === 1) {
      const bundle = await this.search(type, [...params, [param, parents[0]], ['_count', String(Math.min((offset ?? 0) + wanted, this.limits.maxPageSize))]]);
      const matches = (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource);
      for (const k of group) out.set(k, matches.slice(offset ?? 0, (offset ?? 0) + wanted));
      return;
    }
    const def = this.registry.get(type, param);
    if (!def || def.type !== 'reference' || !def.evaluate) throw FhirError.badRequest(`${param} is not a reference search parameter of ${type}`);
    const byParent = new Map<string, any[]>(parents.map((p) => [p, []]));
    let query: QueryParams | undefined = [...params, [param, parents.join(',')], ['_count', String(this.limits.maxPageSize)]];
    for (let page = 0; query && page < MAX_REVERSE_PAGES; page++) {
      const bundle = await this.search(type, query);
      for (const e of bundle.entry ?? []) {
        if (e.search?.mode !== 'match') continue;
        for (const ref of referencesOf(def.evaluate(e.resource, e.resource), this.baseUrl)) byParent.get(ref)?.push(e.resource);
      }
      const next = bundle.link?.find((l: any) => l.relation === 'next')?.url as string | undefined;
      query = next ? parseQueryString(next.slice(next.indexOf('?') + 1)) : undefined;
    }
    for (const k of group) {
      const all = [...new Set(byParent.get(k.parent))];
      out.set(k, all.slice(offset ?? 0, (offset ?? 0) + wanted));
    }
  }
}

/** Marks a resource as its own container (top-level resources). */
export function tag<T>(resource: T): T {
  if (resource && typeof resource === 'object') (resource as any)[CONTAINER] ??= resource;
  return resource;
}

/** `Type/id` of every Reference among the values of a reference search parameter. */
function referencesOf(values: { type: string; values: any[] }[], baseUrl: string): Set<string> {
  const out = new Set<string>();
  for (const tv of values) {
    for (const v of tv.values) {
      const ref = typeof v === 'string' ? v : v?.reference;
      if (typeof ref !== 'string') continue;
      const local = ref.startsWith(baseUrl + '/') ? ref.slice(baseUrl.length + 1) : ref;
      const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/.*)?$/.exec(local);
      if (m) out.add(`${m[1]}/${m[2]}`);
    }
  }
  return out;
}
