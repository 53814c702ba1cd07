import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../../modules/database/db.js';
import { bundleText, entryText } from '../bundle/bundle-text.js';
import { FhirError, issue, outcome } from '../operation-outcome.js';
import { addPatientRefsInJson } from '../pipeline/patient-refs.js';
import type { QueryParams } from '../pipeline/interaction.js';
import type { SearchParamRegistry } from './params/search-param-registry.js';
import type { AccessRestriction, SearchEngine, SearchRequest } from './search-engine.js';
import { consentCondition, consentContextExpression, consentFactsCte, validatedContextExpression } from './query/consent-condition.js';
import { encodeCursor } from './query/cursor.js';
import { FilterCompiler, parameterName } from './query/filter-compiler.js';
import { patientAnchor } from './query/patient-anchor.js';
import { commonMatches, FilterPlanCache, isPlannedFilter, planFilters, type FilterPlan } from './query/filter-plans.js';
import { includeCtes, MAX_INCLUDED } from './query/include-statement.js';
import { pageStatement, sortExpressions, type PageCandidates } from './query/page-statement.js';
import { project } from './query/projection.js';
import { parseSearchParams, type ParsedSearch } from './query/search-request-parser.js';
import { andJoin, orJoin, SqlParams, typeIn, type Scope } from './query/sql-params.js';
import { Terminology } from './query/terminology.js';

/**
 * FHIR search on PostgreSQL: every request becomes one SQL statement (filters, keyset paging, sort, total, and
 * `_include`/`_revinclude` of the page's rows), plus the planner estimates of filter-plans.ts for `_has` and full text.
 * Nothing is filtered or sorted in JavaScript.
 */
export class PgSearchEngine implements SearchEngine {
  /** plans chosen for recent `_has` and full-text values (filter-plans.ts) */
  private readonly filterPlans = new FilterPlanCache();

  constructor(
    private readonly registry: SearchParamRegistry,
    /**
     * `plan` forces one way of running `_has` and full text instead of choosing by estimate (tests, `bench/explain.js`);
     * `candidatesCap` replaces CANDIDATES_CAP (tests: 0 always walks, a large one always reads the matches' rids)
     * and, given, turns off the stepped page (`PageCandidates.ordered`), so that each way can be tested
     */
    private readonly options: { plan?: FilterPlan; candidatesCap?: number } = {},
  ) {}

  async search(q: Queryable, request: SearchRequest): Promise<any> {
    return JSON.parse((await this.searchJson(q, request)).json);
  }

  /**
   * The searchset Bundle as JSON text, built around the stored JSON of each resource: nothing is parsed or
   * re-serialised unless `_summary`/`_elements` ask for a projection (the REST door sends this text as it is).
   */
  async searchJson(q: Queryable, request: SearchRequest): Promise<{ json: string; patients: string[] }> {
    const parsed = parseSearchParams(request.params, this.registry, request.strict);
    const types = this.scopeTypes(request, parsed);
    let sql = new SqlParams();
    const scope: Scope = { alias: 'r0', types };
    // consent is decided on the rows the page walks, not on every match (pageStatement's `late`)
    const consent = request.restriction?.consent;
    const out: { candidates?: PageCandidates; anchored?: boolean } = {};
    const filtered = consent ? { ...request, restriction: { ...request.restriction, consent: undefined } } : request;
    const compiled = { used: parsed.used.length, issues: parsed.issues.length };
    let where = await this.whereClause(q, sql, scope, filtered, parsed, out);
    const consentGeneric = !!consent && (await this.consentPlannedOnce(q, scope, where, sql, parsed, out.anchored));
    if (consentGeneric) {
      // common matches, one plan for every value: the page walks the type in rid order and checks the filters on
      // each resource (per-row probes) until it is full; a generic plan cannot tell a common value from a rare one.
      // Compiled again: what the first compilation recorded (the parameters used, for the links; issues) is undone.
      parsed.used.length = compiled.used;
      parsed.issues.length = compiled.issues;
      sql = new SqlParams();
      where = await this.whereClause(q, sql, { ...scope, probe: true }, filtered, parsed, out);
    }
    const late = consent ? consentCondition(sql, this.registry, scope, consent) : undefined;
    // live consent facts: the statement reads them first (its `with`) and returns what it read (no round trip before)
    // or facts the consent stage kept: the statement returns what tells whether they still hold
    const live = consent?.live;
    const withFacts = live ? consentFactsCte(sql, this.registry, live) : undefined;
    const extra = live ? consentContextExpression(sql, consent!) : consent?.validated ? validatedContextExpression(sql, consent) : undefined;
    const summaryCount = parsed.summary === 'count';
    const count = summaryCount ? 0 : parsed.count;
    // Without _total, a total is given only when it is free: a first page that holds every match. Counting a large
    // match set costs more than the page itself (and doubles the planning work), so it is asked for explicitly.
    const total = parsed.total ?? (summaryCount ? 'accurate' : 'none');
    const sort = sortExpressions(sql, this.registry, scope, parsed.sort);
    // _include/_revinclude in the same statement, starting from the page's first `count` rows (`pg`)
    const include = count > 0 && parsed.includes.length ? this.includeCtes(sql, request, parsed, types) : undefined;
    const text = pageStatement(sql, { scope, where, sort, cursor: parsed.cursor, limit: count + 1, total: summaryCount ? 'accurate' : total, late, lateWalk: consentGeneric, with: withFacts, extra, include: include && { ...include, count }, candidates: out.candidates });
    // Planned once per connection (Db's generic plans; PostgreSQL alone re-planned these at every call), where one
    // plan suits every value. `where` holding nothing but the type, liveness and the filters means no compartment
    // or patient restriction, whose selectivity a generic plan could not know.
    const onlyFilters = where.length === 2 + parsed.filters.length;
    // a consent search anchored on a patient: its plan reads the patient's rows from the reference index whatever
    // the patient (the matches stay fenced by OFFSET 0); PostgreSQL would re-plan the large statement at each call
    // when its estimates of the generic plan went up (the patients the search names, decided once: 0.3 → 1.2 ms)
    const consentAnchored = !!consent && !!out.anchored;
    const planOnce = consentGeneric || consentAnchored || (!late && (
      // a page read in the order of a sort index with nothing to filter: the same plan suits every cursor
      (!!sort[0]?.indexed && !parsed.filters.length && onlyFilters && !include)
      // a page that chooses between its matches' rids and a walk when it runs: its plan is made for both
      || (!sort.length && !!out.candidates)
      // `_has`/full text only, whose SQL is already written for the way chosen for the value (walk or gather)
      || (!sort.length && parsed.filters.length > 0 && parsed.filters.every(([n]) => isPlannedFilter(n)) && onlyFilters)));
    const res = await q.query(prepared(text, sql.values, planOnce));
    const context = extra && res.rows[0]?.extra ? JSON.parse(res.rows[0].extra) : undefined;
    (live ?? consent?.validated)?.report?.(context);
    const found = res.rows.filter((row: any) => row.rid !== null);
    let rows = include ? found.filter((row: any) => row.part === 0) : found;
    const included = include ? found.filter((row: any) => row.part === 1) : [];
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
    const entries: string[] = rows.map((row: any) => entryJson(request, row, 'match', parsed.summary, parsed.elements));
    const patients = new Set<string>();
    patientsOfRows(rows, patients);
    if (included.length > MAX_INCLUDED) parsed.issues.push(issue('warning', 'too-costly', `More than ${MAX_INCLUDED} included resources; the rest were left out`));
    const kept = included.slice(0, MAX_INCLUDED);
    patientsOfRows(kept, patients);
    const includeSummary = parsed.summary === 'count' ? undefined : parsed.summary;
    entries.push(...kept.map((row: any) => entryJson(request, row, 'include', includeSummary, undefined)));
    if (parsed.issues.length) entries.push(JSON.stringify({ resource: outcome(...parsed.issues), search: { mode: 'outcome' } }));
    return { json: bundleText(bundle, entries), patients: [...patients] };
  }

  async matchIds(q: Queryable, resourceType: string, criteria: string, limit: number, restriction?: AccessRestriction): Promise<string[]> {
    if (!this.registry.isResourceType(resourceType)) throw FhirError.badRequest(`Unknown resource type '${resourceType}'`);
    const params = parseCriteria(criteria);
    const parsed = parseSearchParams(params, this.registry, true);
    if (!parsed.filters.length) throw FhirError.badRequest(`Conditional criteria '${criteria}' have no search parameters`);
    const sql = new SqlParams();
    const scope: Scope = { alias: 'r0', types: [resourceType] };
    const where = await this.whereClause(q, sql, scope, { params, strict: true, resourceType, restriction } as SearchRequest, parsed);
    const matches = `SELECT r0.id FROM resource r0 WHERE ${where.join(' AND ')} ORDER BY r0.rid LIMIT ${sql.p(Math.max(0, limit), 'int')}`;
    // consent decided on kept facts: the statement also returns what tells whether they still hold, match or not
    const validated = restriction?.consent?.validated;
    if (!validated) return (await q.query(prepared(matches, sql.values))).rows.map((r: any) => r.id);
    const extra = validatedContextExpression(sql, restriction!.consent!);
    const res = await q.query(prepared(`SELECT x.extra::text AS extra, m.id FROM (SELECT ${extra} AS extra) x LEFT JOIN (${matches}) m ON true`, sql.values));
    validated.report?.(res.rows[0]?.extra ? JSON.parse(res.rows[0].extra) : undefined);
    return res.rows.filter((r: any) => r.id !== null).map((r: any) => r.id);
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

  /**
   * Whether a consent-governed search is planned once (Db's generic plans). Its statement is large, and PostgreSQL
   * re-planned it at every call (its generic plan is estimated dearer): planning cost more than running it. When
   * the matches are common the page is found by walking the resources in page order, which is the generic plan too.
   * Not for rare matches (a generic plan would walk past every resource of the type to find them), nor for searches
   * anchored on one patient (planned once too, but not walked: `searchJson`), nor inside a transaction (Db ignores the request
   * there, and a failed estimate would abort it). Only for searches by token parameters (codes, statuses: few
   * values, searched again and again, so the estimate mostly comes from the cache); a search by name or another
   * free value would pay an `EXPLAIN` at nearly every request for a match that is usually rare. At 2,000 patients
   * (bench/consent.js): `Observation?code` (page of 50) 2.99–3.25 → 1.58–1.60 ms of CPU per request.
   * Such a statement is written as a walk (`searchJson`: the filters as per-row probes, `lateWalk`): a generic plan
   * cannot tell a common value from a rare one, and with the filters as joins it gathered and sorted every match
   * where its estimate was low (`Condition?code`, 2,000 matches estimated at 336: 4.7–5.1 ms of PostgreSQL's CPU
   * per page, 0.39–0.44 ms as a walk; bench/RESULTS.md, 2026-12-08).
   */
  private async consentPlannedOnce(q: Queryable, scope: Scope, where: string[], sql: SqlParams, parsed: ParsedSearch, anchored: boolean | undefined): Promise<boolean> {
    if (anchored || !parsed.filters.length || scope.types.length !== 1 || (q as { inTransaction?: boolean }).inTransaction) return false;
    if (!parsed.filters.every(([name]) => this.registry.get(scope.types[0], parameterName(name).code)?.type === 'token')) return false;
    return commonMatches(q, scope, where, [...sql.values], JSON.stringify(parsed.filters), COMMON_MATCHES, this.filterPlans).catch(() => false);
  }

  /** Type, liveness, compartment and filter conditions; filters that fail are reported (or thrown when strict). */
  private async whereClause(q: Queryable, sql: SqlParams, scope: Scope, request: SearchRequest, parsed: ParsedSearch, out?: { candidates?: PageCandidates; anchored?: boolean }): Promise<string[]> {
    const terminology = new Terminology();
    const urls = parsed.filters.filter(([n]) => /:(in|not-in|below|above)$/.test(n)).flatMap(([, v]) => v.split(','));
    if (urls.length) await terminology.prepare(q, urls);
    const plans = await planFilters(q, this.registry, scope, { baseUrl: request.baseUrl ?? '', terminology, filters: parsed.filters, forced: this.options.plan, cache: this.filterPlans });
    const compiler = new FilterCompiler(this.registry, { sql, baseUrl: request.baseUrl ?? '', terminology, plans });
    const where: string[] = [];
    const r = scope.alias;
    const all = scope.types.length === this.registry.allResourceTypes().length;
    if (!all) where.push(typeIn(`${r}.resource_type`, scope.types));
    where.push(`NOT ${r}.deleted`);
    const anchor = patientAnchor(this.registry, sql, scope, request, parsed, compiler);
    if (out) out.anchored = !!anchor;
    if (request.compartment && anchor?.from !== 'compartment') where.push(compiler.compartment(scope, request.compartment.type, request.compartment.id));
    if (request.restriction?.patients && anchor?.from !== 'restriction') where.push(compiler.inCompartments(scope, 'Patient', request.restriction.patients, true));
    if (request.restriction?.consent) where.push(consentCondition(sql, this.registry, scope, request.restriction.consent));
    const probes: { rank: number; cond: string }[] = [];
    let driver: string | undefined;
    // a filter that fails is reported and ignored (or thrown when strict), leaving no bound values behind
    const lenient = (name: string, compile: () => void) => {
      const mark = sql.mark();
      try {
        compile();
      } catch (e) {
        if (!(e instanceof FhirError) || request.strict) throw e;
        sql.reset(mark);
        parsed.issues.push(issue('warning', e.outcome.issue[0]?.code ?? 'invalid', `${e.message}; parameter ignored`, [name]));
      }
    };
    parsed.filters.forEach(([name, value], i) => {
      if (anchor?.from === i) {
        parsed.used.push([name, value]);
        return;
      }
      if (anchor?.driver === i) {
        lenient(name, () => {
          driver = compiler.tokenDriver(anchor.scope, name, value);
          parsed.used.push([name, value]);
        });
        return;
      }
      const rank = anchor ? compiler.probeRank(scope.types, name) : undefined;
      lenient(name, () => {
        // a search by one parameter of one type: the page may start from the matches' rids (pageStatement)
        // (nothing else to check: with a compartment or a patient restriction, walking every resource of the type
        // when the matches are many would ignore the selective condition)
        const candidates = out && !anchor && parsed.filters.length === 1 && scope.types.length === 1 && where.length === 2 ? compiler.candidates(scope, name, value) : undefined;
        const cond = candidates?.cond ?? compiler.compile(rank === undefined ? scope : anchor!.scope, name, value);
        if (candidates) out!.candidates = { at: where.length, rids: candidates.rids, probe: candidates.probe, cap: this.options.candidatesCap, ordered: this.options.candidatesCap === undefined ? candidates.ordered : undefined };
        if (rank === undefined) where.push(cond);
        else probes.push({ rank, cond });
        parsed.used.push([name, value]);
      });
    });
    if (anchor) where.push(anchor.statement(probes.sort((a, b) => a.rank - b.rank).map((p) => p.cond), driver));
    return where;
  }

  /**
   * The include CTEs over `pg` (the page's first `count` rows, defined by the page statement). Included resources
   * pass the same restrictions as the page: a patient token's patients, and consent, decided on the facts the
   * statement reads in its own `consent_facts`.
   */
  private includeCtes(sql: SqlParams, request: SearchRequest, parsed: ParsedSearch, types: string[]): { ctes: string; recursive: boolean } | undefined {
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
    return includeCtes(sql, this.registry, parsed.includes, types, restrict);
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

/** A consent search is planned once when at least 1 in this many resources of its type match (see searchJson). */
const COMMON_MATCHES = 100;

/** The patients whose data these rows are: a Patient itself, or the patient another resource is about. */
function patientsOfRows(rows: { type: string; id: string; content: string }[], out: Set<string>): void {
  for (const row of rows) {
    if (row.type === 'Patient') out.add(`Patient/${row.id}`);
    else addPatientRefsInJson(row.content, out);
  }
}

/** One Bundle entry as JSON text: the stored resource text as it is, or its projection for `_summary`/`_elements`. */
function entryJson(request: SearchRequest, row: { type: string; id: string; content: string }, mode: 'match' | 'include', summary: string | undefined, elements: string[] | undefined): string {
  const projected = (summary !== undefined && summary !== 'false') || !!elements?.length;
  const resource = projected ? JSON.stringify(project(JSON.parse(row.content), summary, elements)) : row.content;
  return entryText(`${request.baseUrl}/${row.type}/${row.id}`, resource, mode);
}

function searchBase(request: SearchRequest): string {
  if (request.compartment) return `${request.baseUrl}/${request.compartment.type}/${request.compartment.id}/${request.resourceType ?? '*'}`;
  return request.resourceType ? `${request.baseUrl}/${request.resourceType}` : request.baseUrl;
}

/**
 * A named (prepared) statement: each connection plans a query shape once and PostgreSQL may then reuse a generic
 * plan — planning the compiled search SQL costs more than running it for selective searches. Names are hashes
 * of the text, so the same shape with other values shares the statement; very long texts are left unnamed.
 * `generic` asks for a generic plan whatever PostgreSQL's estimates say (Db's `genericPool`, `GENERIC_PLAN`).
 */
function prepared(text: string, values: unknown[], generic = false): { name?: string; text: string; values: unknown[]; generic?: boolean } {
  if (text.length > 16_000) return { text, values };
  return { name: `fs_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text, values, ...(generic ? { generic } : {}) };
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
