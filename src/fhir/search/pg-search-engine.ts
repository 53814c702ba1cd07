import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../../modules/database/db.js';
import { FhirError, issue, outcome } from '../operation-outcome.js';
import type { QueryParams } from '../pipeline/interaction.js';
import type { SearchParamRegistry } from './params/search-param-registry.js';
import type { AccessRestriction, SearchEngine, SearchRequest } from './search-engine.js';
import { consentCondition, consentContextExpression, consentFactsCte, resolvedFacts } from './query/consent-condition.js';
import { encodeCursor } from './query/cursor.js';
import { FilterCompiler } from './query/filter-compiler.js';
import { planFilters, type FilterPlan } from './query/filter-plans.js';
import { includeStatement, MAX_INCLUDED } from './query/include-statement.js';
import { pageStatement, sortExpressions } from './query/page-statement.js';
import { project } from './query/projection.js';
import { parseSearchParams, type ParsedSearch } from './query/search-request-parser.js';
import { andJoin, orJoin, SqlParams, typeIn, type Scope } from './query/sql-params.js';
import { Terminology } from './query/terminology.js';

/**
 * FHIR search on PostgreSQL: every request becomes one SQL statement for the page (filters, keyset paging, sort,
 * total) and at most one more for `_include`/`_revinclude`. Nothing is filtered or sorted in JavaScript.
 */
export class PgSearchEngine implements SearchEngine {
  constructor(
    private readonly registry: SearchParamRegistry,
    /** `plan` forces one way of running `_has` and full text instead of choosing by estimate (tests, `bench/explain.js`) */
    private readonly options: { plan?: FilterPlan } = {},
  ) {}

  async search(q: Queryable, request: SearchRequest): Promise<any> {
    const parsed = parseSearchParams(request.params, this.registry, request.strict);
    const types = this.scopeTypes(request, parsed);
    const sql = new SqlParams();
    const scope: Scope = { alias: 'r0', types };
    // consent is decided on the rows the page walks, not on every match (pageStatement's `late`)
    const consent = request.restriction?.consent;
    const where = await this.whereClause(q, sql, scope, consent ? { ...request, restriction: { ...request.restriction, consent: undefined } } : request, parsed);
    const late = consent ? consentCondition(sql, this.registry, scope, consent) : undefined;
    // live consent facts: the statement reads them first (its `with`) and returns what it read (no round trip before)
    const live = consent?.live;
    const withFacts = live ? consentFactsCte(sql, this.registry, live) : undefined;
    const extra = live ? consentContextExpression(sql, consent!) : undefined;
    const summaryCount = parsed.summary === 'count';
    const count = summaryCount ? 0 : parsed.count;
    // Without _total, a total is given only when it is free: a first page that holds every match. Counting a large
    // match set costs more than the page itself (and doubles the planning work), so it is asked for explicitly.
    const total = parsed.total ?? (summaryCount ? 'accurate' : 'none');
    const sort = sortExpressions(sql, this.registry, scope, parsed.sort);
    const text = pageStatement(sql, { scope, where, sort, cursor: parsed.cursor, limit: count + 1, total: summaryCount ? 'accurate' : total, late, with: withFacts, extra });
    const res = await q.query(prepared(text, sql.values));
    const context = extra && res.rows[0]?.extra ? JSON.parse(res.rows[0].extra) : undefined;
    live?.report?.(context);
    let rows = res.rows.filter((row: any) => row.rid !== null);
    let totalValue = res.rows[0]?.total;
    const more = rows.length > count;
    if (more) rows = rows.slice(0, count);
    if (parsed.total === undefined && !summaryCount && !parsed.cursor && !more) totalValue = rows.length;
    const reverse = parsed.cursor?.dir === 'prev';
    if (reverse) rows.reverse();

    const bundle: any = {
      resourceType: 'Bundle',
      id: randomUUID(),
      meta: { lastUpdated: new Date().toISOString() },
      type: 'searchset',
    };
    if (totalValue !== null && totalValue !== undefined && (total !== 'none' || parsed.total === undefined)) bundle.total = Number(totalValue);
    bundle.link = this.links(request, parsed, sort.length, rows, more, reverse);
    const entries: any[] = rows.map((row: any) => this.entry(request, project(row.content, parsed.summary, parsed.elements), 'match'));
    // the include statement has no consent_facts of its own: it gets the facts this statement read
    const forIncludes = live ? { ...request, restriction: { ...request.restriction, consent: resolvedFacts(consent!, context) } } : request;
    if (rows.length && parsed.includes.length) entries.push(...(await this.included(q, forIncludes, parsed, rows)));
    if (parsed.issues.length) entries.push({ resource: outcome(...parsed.issues), search: { mode: 'outcome' } });
    if (entries.length) bundle.entry = entries;
    return bundle;
  }

  async matchIds(q: Queryable, resourceType: string, criteria: string, limit: number, restriction?: AccessRestriction): Promise<string[]> {
    if (!this.registry.isResourceType(resourceType)) throw FhirError.badRequest(`Unknown resource type '${resourceType}'`);
    const params = parseCriteria(criteria);
    const parsed = parseSearchParams(params, this.registry, true);
    if (!parsed.filters.length) throw FhirError.badRequest(`Conditional criteria '${criteria}' have no search parameters`);
    const sql = new SqlParams();
    const scope: Scope = { alias: 'r0', types: [resourceType] };
    const where = await this.whereClause(q, sql, scope, { params, strict: true, resourceType, restriction } as SearchRequest, parsed);
    const res = await q.query(prepared(`SELECT r0.id FROM resource r0 WHERE ${where.join(' AND ')} ORDER BY r0.rid LIMIT ${sql.p(Math.max(0, limit), 'int')}`, sql.values));
    return res.rows.map((r: any) => r.id);
  }

  async scanRids(q: Queryable, resourceType: string, opts: { filters?: string[]; afterRid: string; limit: number; restriction?: AccessRestriction }): Promise<string[]> {
    if (!this.registry.isResourceType(resourceType)) throw FhirError.badRequest(`Unknown resource type '${resourceType}'`);
    const sql = new SqlParams();
    const scope: Scope = { alias: 'r0', types: [resourceType] };
    const alternatives: string[] = [];
    for (const criteria of opts.filters?.length ? opts.filters : ['']) {
      const params = parseCriteria(criteria);
      const parsed = parseSearchParams(params, this.registry, true);
      const where = await this.whereClause(q, sql, scope, { params, strict: true, resourceType, restriction: opts.restriction } as SearchRequest, parsed);
      alternatives.push(andJoin(where));
    }
    const text = `SELECT r0.rid::text AS rid FROM resource r0 WHERE r0.rid > ${sql.p(opts.afterRid, 'bigint')} AND ${orJoin(alternatives)}
                  ORDER BY r0.rid LIMIT ${sql.p(Math.max(0, opts.limit), 'int')}`;
    const res = await q.query(prepared(text, sql.values));
    return res.rows.map((r: any) => r.rid);
  }

  private scopeTypes(request: SearchRequest, parsed: ParsedSearch): string[] {
    if (request.resourceType) {
      if (!this.registry.isResourceType(request.resourceType)) throw FhirError.badRequest(`Unknown resource type '${request.resourceType}'`);
      if (request.compartment && !FilterCompiler.compartmentTypes(request.compartment.type).includes(request.resourceType)) {
        throw FhirError.badRequest(`${request.resourceType} is not in the ${request.compartment.type} compartment`);
      }
      return [request.resourceType];
    }
    if (request.compartment) {
      const inCompartment = FilterCompiler.compartmentTypes(request.compartment.type);
      return parsed.types ? parsed.types.filter((t) => inCompartment.includes(t)) : inCompartment;
    }
    return parsed.types ?? this.registry.allResourceTypes();
  }

  /** Type, liveness, compartment and filter conditions; filters that fail are reported (or thrown when strict). */
  private async whereClause(q: Queryable, sql: SqlParams, scope: Scope, request: SearchRequest, parsed: ParsedSearch): Promise<string[]> {
    const terminology = new Terminology();
    const urls = parsed.filters.filter(([n]) => /:(in|not-in|below|above)$/.test(n)).flatMap(([, v]) => v.split(','));
    if (urls.length) await terminology.prepare(q, urls);
    const plans = await planFilters(q, this.registry, scope, { baseUrl: request.baseUrl ?? '', terminology, filters: parsed.filters, forced: this.options.plan });
    const compiler = new FilterCompiler(this.registry, { sql, baseUrl: request.baseUrl ?? '', terminology, plans });
    const where: string[] = [];
    const r = scope.alias;
    const all = scope.types.length === this.registry.allResourceTypes().length;
    if (!all) where.push(typeIn(`${r}.resource_type`, scope.types));
    where.push(`NOT ${r}.deleted`);
    if (request.compartment) where.push(compiler.compartment(scope, request.compartment.type, request.compartment.id));
    if (request.restriction?.patients) where.push(compiler.inCompartments(scope, 'Patient', request.restriction.patients, true));
    if (request.restriction?.consent) where.push(consentCondition(sql, this.registry, scope, request.restriction.consent));
    for (const [name, value] of parsed.filters) {
      const mark = sql.mark();
      try {
        where.push(compiler.compile(scope, name, value));
        parsed.used.push([name, value]);
      } catch (e) {
        if (!(e instanceof FhirError) || request.strict) throw e;
        sql.reset(mark);
        parsed.issues.push(issue('warning', e.outcome.issue[0]?.code ?? 'invalid', `${e.message}; parameter ignored`, [name]));
      }
    }
    return where;
  }

  private async included(q: Queryable, request: SearchRequest, parsed: ParsedSearch, rows: any[]): Promise<any[]> {
    const sql = new SqlParams();
    const pageTypes = [...new Set(rows.map((r: any) => r.content.resourceType as string))];
    const patients = request.restriction?.patients;
    const consent = request.restriction?.consent;
    const restrict = patients || consent
      ? (alias: string) => {
          const all = { alias, types: this.registry.allResourceTypes() };
          const conds: string[] = [];
          if (patients) conds.push(new FilterCompiler(this.registry, { sql, baseUrl: request.baseUrl, terminology: new Terminology() }).inCompartments(all, 'Patient', patients, true));
          if (consent) conds.push(consentCondition(sql, this.registry, all, consent));
          return conds.join(' AND ');
        }
      : undefined;
    const text = includeStatement(sql, this.registry, parsed.includes, pageTypes, rows.map((r: any) => ({ rid: r.rid, type: r.content.resourceType, id: r.content.id })), restrict);
    if (!text) return [];
    const res = await q.query(prepared(text, sql.values));
    const found = res.rows.slice(0, MAX_INCLUDED);
    if (res.rows.length > MAX_INCLUDED) parsed.issues.push(issue('warning', 'too-costly', `More than ${MAX_INCLUDED} included resources; the rest were left out`));
    return found.map((row: any) => this.entry(request, project(row.content, parsed.summary === 'count' ? undefined : parsed.summary, undefined), 'include'));
  }

  private entry(request: SearchRequest, resource: any, mode: 'match' | 'include'): any {
    return { fullUrl: `${request.baseUrl}/${resource.resourceType}/${resource.id}`, resource, search: { mode } };
  }

  private links(request: SearchRequest, parsed: ParsedSearch, sortKeys: number, rows: any[], more: boolean, reverse: boolean): any[] {
    const base = searchBase(request);
    const query = parsed.used.map(([k, v]) => `${encodeURIComponent(k).replace(/%3A/g, ':')}=${encodeURIComponent(v)}`).join('&');
    const self = query ? `${base}?${query}` : base;
    const withCursor = (c: string) => `${base}?${query ? `${query}&` : ''}_cursor=${c}`;
    const keysOf = (row: any) => Array.from({ length: sortKeys }, (_, i) => String(row[`k${i}`]));
    const links: any[] = [{ relation: 'self', url: parsed.cursor ? withCursor(encodeCursor(parsed.cursor)) : self }];
    // forwards: more rows after this page; backwards (reverse): we came from a later page, so there is a next
    const hasNext = reverse ? true : more;
    const hasPrev = reverse ? more : !!parsed.cursor;
    if (rows.length && hasNext) links.push({ relation: 'next', url: withCursor(encodeCursor({ dir: 'next', rid: rows[rows.length - 1].rid, keys: keysOf(rows[rows.length - 1]) })) });
    if (rows.length && hasPrev) links.push({ relation: 'previous', url: withCursor(encodeCursor({ dir: 'prev', rid: rows[0].rid, keys: keysOf(rows[0]) })) });
    if (hasPrev) links.push({ relation: 'first', url: self });
    return links;
  }
}

function searchBase(request: SearchRequest): string {
  if (request.compartment) return `${request.baseUrl}/${request.compartment.type}/${request.compartment.id}/${request.resourceType ?? '*'}`;
  return request.resourceType ? `${request.baseUrl}/${request.resourceType}` : request.baseUrl;
}

/**
 * A named (prepared) statement: each connection plans a query shape once and PostgreSQL may then reuse a generic
 * plan — planning the compiled search SQL costs more than running it for selective searches. Names are hashes
 * of the text, so the same shape with other values shares the statement; very long texts are left unnamed.
 */
function prepared(text: string, values: unknown[]): { name?: string; text: string; values: unknown[] } {
  if (text.length > 16_000) return { text, values };
  return { name: `fs_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text, values };
}

/** `identifier=http://x|1&active=true` (URL-encoded as in If-None-Exist) → ordered pairs. */
export function parseCriteria(criteria: string): QueryParams {
  const q = criteria.includes('?') ? criteria.slice(criteria.indexOf('?') + 1) : criteria;
  const out: QueryParams = [];
  for (const part of q.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    try {
      const name = decodeURIComponent(eq >= 0 ? part.slice(0, eq) : part);
      const value = eq >= 0 ? decodeURIComponent(part.slice(eq + 1)) : '';
      out.push([name, value]);
    } catch {
      throw FhirError.badRequest(`Malformed criteria '${criteria}'`);
    }
  }
  return out;
}
