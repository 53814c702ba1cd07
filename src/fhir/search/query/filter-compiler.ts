import { R4Definitions } from '../../definitions/r4-definitions.js';
import { FhirError } from '../../operation-outcome.js';
import type { SearchParamDef, SearchParamRegistry } from '../params/search-param-registry.js';
import { isTokenRowMatch, leafCandidates, leafCondition, pidIn, tokenRowMatch, type ConditionContext, type LeafCandidates } from './conditions/leaf-conditions.js';
import { PRID_UNKNOWN } from '../index/search-index-writer.js';
import { leafAsParameter, parseFilter, type FilterNode } from './filter-expression.js';
import { orValues } from './search-values.js';
import { orJoin, probeTail, typeIn, type Scope } from './sql-params.js';

const MAX_CHAIN_DEPTH = 4;

const TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/;

/** Probe order of leaf parameters by type (lower first), see `probeRank`. */
const PROBE_RANK: Record<string, number> = { token: 0, reference: 1, uri: 1, string: 3, composite: 3, quantity: 4, number: 4, date: 5 };

/** The reference parameters that put resources of these types in a compartment of `compartmentType`. */
export function compartmentPids(registry: SearchParamRegistry, compartmentType: string, types: string[]): number[] {
  const def = R4Definitions.get().compartments.get(compartmentType);
  const pids: number[] = [];
  for (const t of types) {
    for (const code of def?.resources.get(t) ?? []) {
      const d = code === '{def}' ? undefined : registry.get(t, code);
      if (d?.type === 'reference') pids.push(d.pid);
    }
  }
  return [...new Set(pids)];
}

/** `code[:modifier][.chain]` of a search parameter name (`subject:Patient.name` → subject, Patient, name). */
export function parameterName(name: string): { code: string; modifier?: string; chain?: string } {
  const dot = name.indexOf('.');
  const head = dot >= 0 ? name.slice(0, dot) : name;
  const colon = head.indexOf(':');
  return {
    code: colon >= 0 ? head.slice(0, colon) : head,
    modifier: colon >= 0 ? head.slice(colon + 1) : undefined,
    chain: dot >= 0 ? name.slice(dot + 1) : undefined,
  };
}

/**
 * Compiles search filters (`name[:modifier][.chain]=value`, `_has:...`, `_list`, `_text`, `_content`) into SQL
 * boolean expressions over a scope's resource alias. Chains and `_has` become nested EXISTS over `sp_reference`
 * joined to `resource`, so PostgreSQL plans the whole search as one statement.
 */
export class FilterCompiler {
  constructor(
    private readonly registry: SearchParamRegistry,
    private readonly ctx: ConditionContext,
  ) {}

  compile(scope: Scope, name: string, raw: string, depth = 0): string {
    if (depth > MAX_CHAIN_DEPTH) throw FhirError.badRequest(`Chains and _has are limited to ${MAX_CHAIN_DEPTH} levels (${name})`);
    if (name.startsWith('_has:')) return this.has(scope, name, raw, depth);
    if (name === '_list') return this.list(scope, raw);
    if (name === '_text' || name === '_content') return this.fullText(scope, name, raw, depth);
    if (name === '_filter') return this.filterExpression(scope, parseFilter(raw), depth);
    const { code, modifier, chain } = parameterName(name);
    const defs = this.defsFor(scope.types, code, name);
    if (chain !== undefined) return this.chain(scope, defs, modifier, chain, name, raw, depth);
    return leafCondition(this.ctx, scope, defs, modifier, raw, name);
  }

  /**
   * `compile` of a plain parameter (`name[:modifier]=value`, no chain) that holds exactly for the resources with a
   * matching index row, with the matches' rids as a query of their own (`LeafCandidates`: dates so far); undefined
   * for other parameters (chains, `_has`, full text, negations, `:missing`, columns of `resource`).
   */
  candidates(scope: Scope, name: string, raw: string): LeafCandidates | undefined {
    if (name.startsWith('_has:')) return this.patientHas(scope, name, raw);
    if (['_list', '_text', '_content', '_filter'].includes(name)) return undefined;
    const { code, modifier, chain } = parameterName(name);
    if (chain !== undefined) return undefined;
    return leafCandidates(this.ctx, scope, this.defsFor(scope.types, code, name), modifier, raw, name);
  }

  /** A parsed `_filter` expression: its comparisons compile as ordinary parameters, joined with AND/OR/NOT. */
  private filterExpression(scope: Scope, node: FilterNode, depth: number): string {
    switch (node.kind) {
      case 'and':
        return `(${node.items.map((n) => this.filterExpression(scope, n, depth)).join(' AND ')})`;
      case 'or':
        return orJoin(node.items.map((n) => this.filterExpression(scope, n, depth)));
      case 'not':
        return `NOT ${this.filterExpression(scope, node.item, depth)}`;
      case 'leaf': {
        const segments = node.path.split('.');
        const last = segments[segments.length - 1].split(':')[0];
        const types = segments.length === 1 ? scope.types : this.registry.allResourceTypes();
        const def = types.map((t) => this.registry.get(t, last)).find((d) => d !== undefined);
        if (!def) throw FhirError.badRequest(`Invalid _filter: unknown search parameter '${last}'`, 'not-supported');
        const [name, value, negate] = leafAsParameter(node.path, node.op, node.value, def.type);
        const cond = this.compile(scope, name, value, depth);
        return negate ? `NOT ${cond}` : cond;
      }
    }
  }

  /** The parameter `code` on every scope type that has it; an error when none has it. */
  defsFor(types: string[], code: string, name: string): SearchParamDef[] {
    const defs: SearchParamDef[] = [];
    for (const t of types) {
      const d = this.registry.get(t, code);
      if (d) defs.push(d);
    }
    if (!defs.length) throw FhirError.badRequest(`Unknown search parameter '${code}' for ${types.length > 3 ? 'these types' : types.join(', ')}${name !== code ? ` (in ${name})` : ''}`, 'not-supported');
    if (defs.some((d) => d.type !== defs[0].type)) throw FhirError.badRequest(`Search parameter '${code}' has different types across ${types.join(', ')}`);
    return defs;
  }

  /** `subject:Patient.name=x`: a reference whose target matches the rest of the chain. */
  private chain(scope: Scope, defs: SearchParamDef[], modifier: string | undefined, rest: string, name: string, raw: string, depth: number): string {
    const { sql } = this.ctx;
    if (defs[0].type !== 'reference') throw FhirError.badRequest(`Chained parameter ${name}: '${defs[0].code}' is not a reference parameter`);
    if (modifier && !TYPE_RE.test(modifier)) throw FhirError.badRequest(`Chained parameter ${name}: :${modifier} must be a resource type`);
    let targets = modifier ? [modifier] : [...new Set(defs.flatMap((d) => d.targets))];
    if (targets.includes('Resource') || targets.includes('Any')) targets = this.registry.allResourceTypes();
    const nextCode = rest.startsWith('_has:') ? undefined : rest.split(/[.:]/)[0];
    // only targets on which the next parameter exists can match (R4: ambiguous chains are narrowed the same way)
    if (nextCode) targets = targets.filter((t) => this.registry.isResourceType(t) && this.registry.get(t, nextCode));
    if (!targets.length) throw FhirError.badRequest(`Chained parameter ${name}: no target type of '${defs[0].code}' has a parameter '${nextCode}'`, 'not-supported');
    const c = sql.alias('c');
    const r2 = sql.alias('r');
    const inner = this.compile({ alias: r2, types: targets }, rest, raw, depth + 1);
    const typeCond = typeIn(`${c}.rtype`, targets);
    return `EXISTS (SELECT 1 FROM sp_reference ${c} JOIN resource ${r2} ON ${r2}.resource_type = ${c}.rtype AND ${r2}.id = ${c}.tid
            WHERE ${c}.rid = ${scope.alias}.rid AND ${pidIn(sql, c, defs.map((d) => d.pid))} AND ${typeCond} AND NOT ${r2}.deleted AND ${inner}${probeTail(scope)})`;
  }

  /**
   * `_has:Observation:patient:code=x`: some Observation whose `patient` points here matches `code=x` (nestable).
   *
   * How PostgreSQL should run it depends on how common the inner match is, which it misjudges (it estimates the
   * semi-join from an average over all targets): when most targets match, walking the targets in page order and
   * checking each (`walk`, a correlated sub-plan that stops at the page) is fast and gathering every match is slow;
   * when few match, the reverse. The engine asks PostgreSQL's own estimate of the inner matches first
   * (`filter-plans.ts`) and passes the choice here; without one, the planner decides (a semi-join).
   */
  private has(scope: Scope, name: string, raw: string, depth: number): string {
    const { sql } = this.ctx;
    const plan = depth === 0 ? this.ctx.plans?.get(`${name}=${raw}`) : undefined;
    const byPatient = this.patientHas(scope, name, raw);
    if (byPatient) return plan === 'gather' ? byPatient.gather : plan === 'walk' ? byPatient.probe : byPatient.cond;
    const { type, ref, rest } = this.hasParts(name);
    const h = sql.alias('h');
    const r2 = sql.alias('r');
    let inner = this.compile({ alias: r2, types: [type] }, rest, raw, depth + 1);
    let from = `sp_reference ${h} JOIN resource ${r2} ON ${r2}.rid = ${h}.rid`;
    if (!new RegExp(`\\b${r2}\\.(?!rid\\b)`).test(inner)) {
      // the inner conditions need only the referring resource's rid, which the reference row has: no lookup of the
      // resource row per candidate (index rows exist only for live resources, and their pid fixes the type)
      inner = inner.replace(new RegExp(`\\b${r2}\\.rid\\b`, 'g'), `${h}.rid`);
      from = `sp_reference ${h}`;
    }
    if (plan === 'gather') {
      // every target pointed at by a match, hashed once; the outer scan probes it
      const target = scope.types.length === 1 ? `${scope.alias}.id` : `(${scope.alias}.resource_type, ${scope.alias}.id)`;
      const cols = scope.types.length === 1 ? `${h}.tid` : `${h}.rtype, ${h}.tid`;
      return `${target} IN (SELECT ${cols} FROM ${from} WHERE ${pidIn(sql, h, [ref.pid])} AND ${typeIn(`${h}.rtype`, scope.types)} AND ${inner})`;
    }
    const typeCond = scope.types.length === 1 ? typeIn(`${h}.rtype`, scope.types) : `${h}.rtype = ${scope.alias}.resource_type`;
    // OFFSET 0 keeps the sub-query from being turned into a semi-join: a filter checked per target in scan order
    const walk = plan === 'walk' ? ' OFFSET 0' : '';
    return `EXISTS (SELECT 1 FROM ${from}
            WHERE ${pidIn(sql, h, [ref.pid])} AND ${h}.tid = ${scope.alias}.id AND ${typeCond} AND ${inner}${walk})`;
  }

  /**
   * `Patient?_has:T:patient:token=x` from the token index alone: its rows carry the rid of the Patient their
   * resource's `patient` parameter points to (`sp_token.prid`, kept by the index writer), and the index is
   * `(pid, code, prid, sys)`, so a Patient is checked with one index probe (`probe`: walking the Patients in page
   * order), and the Patients of all matches are the index entries of the code (`rids`, `gather`). Rows whose
   * resource points to several Patients, or to one not stored when the row was written (`prid` -1), are followed
   * through `sp_reference` as before: their Patients' ids, computed once per statement (an InitPlan; one index
   * probe when there are none). Undefined for other `_has` (other targets, reference parameters, parameter types,
   * negations, chains, nesting), which take the general form below.
   *
   * Measured at 1M (5,173 Patients, 501,309 Observations), one at a time: codes on 5,000–10,600 Observations
   * took 12–23 ms through `sp_reference`, walked or gathered.
   */
  private patientHas(scope: Scope, name: string, raw: string): (LeafCandidates & { gather: string }) | undefined {
    if (scope.types.length !== 1 || scope.types[0] !== 'Patient') return undefined;
    const { type, ref, rest } = this.hasParts(name);
    if (!this.followsPatient(type, ref) || rest.startsWith('_has:')) return undefined;
    const token = this.tokenRowParam(type, rest); // (decided before anything is bound)
    if (!token) return undefined;
    const { sql } = this.ctx;
    const { x, where } = tokenRowMatch(this.ctx, [token.def], token.modifier, raw, name);
    const r = scope.alias;
    const h = sql.alias('h');
    // the same bound values serve every form (sibling sub-queries may reuse the alias)
    const unknown = `ARRAY(SELECT ${h}.tid FROM sp_token ${x} JOIN sp_reference ${h} ON ${h}.rid = ${x}.rid AND ${h}.pid = ${ref.pid} AND ${h}.rtype = 'Patient'
                     WHERE ${where} AND ${x}.prid = ${PRID_UNKNOWN})`;
    const exists = (tail: string) => `(EXISTS (SELECT 1 FROM sp_token ${x} WHERE ${x}.prid = ${r}.rid AND ${where}${tail}) OR ${r}.id = ANY(${unknown}))`;
    const known = `SELECT ${x}.prid AS rid FROM sp_token ${x} WHERE ${where} AND ${x}.prid > 0`;
    const unknownRids = `SELECT p.rid FROM resource p WHERE p.resource_type = 'Patient' AND p.id = ANY(${unknown})`;
    return {
      cond: exists(''),
      probe: exists(' OFFSET 0'),
      gather: `(${r}.rid IN (${known}) OR ${r}.id = ANY(${unknown}))`,
      rids: `${known} UNION ALL ${unknownRids}`,
      // each Patient once, in rid order, one probe of the index (pid, code, prid, sys) each: the next prid after
      // the one before (a "loose index scan"), produced lazily so the page stops it when full
      ordered: {
        stepped: (bound, desc) => {
          const [cmp, dir] = desc ? ['<', ' DESC'] : ['>', ''];
          const next = (after: string | undefined) => `(SELECT ${x}.prid FROM sp_token ${x} WHERE ${where} AND ${x}.prid > 0${after ? ` AND ${x}.prid ${after}` : ''} ORDER BY ${x}.prid${dir} LIMIT 1)`;
          return `WITH RECURSIVE k(rid) AS (SELECT ${next(bound)} UNION ALL SELECT ${next(`${cmp} k.rid`)} FROM k WHERE k.rid IS NOT NULL)
                  SELECT k.rid FROM k WHERE k.rid IS NOT NULL`;
        },
        rest: unknownRids,
      },
    };
  }

  /**
   * Whether the Patients that reference parameter `ref` of `type` points to are those of the type's `patient`
   * parameter (the ones `prid` follows): `patient` itself, or the element it is defined on, e.g. Observation's
   * `subject` (`patient` = `Observation.subject.where(resolve() is Patient)`).
   */
  private followsPatient(type: string, ref: SearchParamDef): boolean {
    if (ref.code === 'patient') return true;
    const patient = this.registry.get(type, 'patient');
    if (patient?.type !== 'reference' || !patient.expression || !ref.expression) return false;
    const own = (expr: string) => expr.split('|').map((p) => p.trim()).filter((p) => p.startsWith(`${type}.`));
    const [refPath, ...more] = own(ref.expression);
    const mine = own(patient.expression);
    return !more.length && mine.length === 1 && mine[0] === `${refPath}.where(resolve() is Patient)`;
  }

  /** A token parameter `name` of `type` whose matching index rows can be read on their own (`tokenRowMatch`; nothing bound). */
  private tokenRowParam(type: string, name: string): { def: SearchParamDef; modifier?: string } | undefined {
    const { code, modifier, chain } = parameterName(name); // (`_has:`, `_list`, full text: no parameter of that code)
    const def = chain === undefined ? this.registry.get(type, code) : undefined;
    return def && isTokenRowMatch(def, modifier) ? { def, modifier } : undefined;
  }

  /** Whether `name` is a token parameter of the scope's one type whose rows can drive a patient-anchored search (nothing bound). */
  isTokenDriver(scope: Scope, name: string): boolean {
    return scope.types.length === 1 && this.tokenRowParam(scope.types[0], name) !== undefined;
  }

  /** The condition on the `sp_token` row aliased as the scope's alias for `name=raw` (`isTokenDriver` parameters). */
  tokenDriver(scope: Scope, name: string, raw: string): string {
    const token = this.tokenRowParam(scope.types[0], name)!;
    return tokenRowMatch(this.ctx, [token.def], token.modifier, raw, name, scope.alias).where;
  }

  /** The inner side of a `_has` on its own (`SELECT 1 FROM resource … WHERE …`), for estimating how many match. */
  hasInnerStatement(name: string, raw: string): string {
    const { type, rest } = this.hasParts(name);
    const r2 = this.ctx.sql.alias('r');
    const inner = this.compile({ alias: r2, types: [type] }, rest, raw, 1);
    return `SELECT 1 FROM resource ${r2} WHERE ${typeIn(`${r2}.resource_type`, [type])} AND NOT ${r2}.deleted AND ${inner}`;
  }

  private hasParts(name: string): { type: string; ref: SearchParamDef; rest: string } {
    const m = /^_has:([A-Z][A-Za-z]+):([a-z_][A-Za-z0-9_-]*):(.+)$/.exec(name);
    if (!m) throw FhirError.badRequest(`Invalid _has parameter '${name}' (expected _has:Type:reference:parameter)`);
    const [, type, refCode, rest] = m;
    if (!this.registry.isResourceType(type)) throw FhirError.badRequest(`Unknown resource type '${type}' in ${name}`);
    const ref = this.registry.get(type, refCode);
    if (!ref || ref.type !== 'reference') throw FhirError.badRequest(`'${refCode}' is not a reference parameter of ${type} (in ${name})`);
    return { type, ref, rest };
  }

  /** `_list=id`: members of that List (List.entry.item). */
  private list(scope: Scope, raw: string): string {
    const { sql } = this.ctx;
    const ids = orValues(raw);
    for (const id of ids) if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw FhirError.badRequest(`_list takes List ids ('${id}' is not one; functional lists such as $current-problems are not supported)`, 'not-supported');
    const item = this.registry.get('List', 'item')!;
    const l = sql.alias('l');
    const li = sql.alias('li');
    return `EXISTS (SELECT 1 FROM resource ${l} JOIN sp_reference ${li} ON ${li}.rid = ${l}.rid AND ${pidIn(sql, li, [item.pid])}
            WHERE ${l}.resource_type = 'List' AND ${l}.id = ANY(${sql.p(ids, 'text[]')}) AND NOT ${l}.deleted
              AND ${li}.rtype = ${scope.alias}.resource_type AND ${li}.tid = ${scope.alias}.id)`;
  }

  /**
   * `_content` (all text) and `_text` (narrative) with PostgreSQL full-text search (web-search syntax: "a b" OR -c).
   * Like `_has`, two ways: walk the scope's resources in page order checking each (`walk`, the planner's usual
   * choice: fast when many match, a pass over every resource of the type for a rare word), or fetch the few
   * matches from the GIN index and look those up (`gather`), chosen by estimate (`filter-plans.ts`).
   */
  private fullText(scope: Scope, name: string, raw: string, depth: number): string {
    const t = this.ctx.sql.alias('t');
    const match = this.fullTextMatch(t, name, raw);
    const plan = depth === 0 ? this.ctx.plans?.get(`${name}=${raw}`) : undefined;
    if (plan === 'gather') {
      // an array, not IN (…): the planner would still walk the resources and merge; rid = ANY(array) looks them up
      return `${scope.alias}.rid = ANY(ARRAY(SELECT ${t}.rid FROM sp_text ${t} WHERE ${match}))`;
    }
    // a walk checks the scope's resources one by one (OFFSET 0 keeps it a per-row sub-plan): left to itself the
    // planner merges the scope with the text rows of every type in rid order, and tests each of those
    // (`DiagnosticReport?_content=panel` at 1M: 1.07 ms merged, 0.12 ms probing)
    const tail = plan === 'walk' ? ' OFFSET 0' : probeTail(scope);
    return `EXISTS (SELECT 1 FROM sp_text ${t} WHERE ${t}.rid = ${scope.alias}.rid AND ${match}${tail})`;
  }

  /** The text condition on an `sp_text` alias. */
  fullTextMatch(t: string, name: string, raw: string): string {
    const column = name === '_text' ? 'narrative' : 'content';
    return orJoin(orValues(raw).map((v) => `${t}.${column} @@ websearch_to_tsquery('simple', ${this.ctx.sql.p(v)})`));
  }

  /**
   * Where a filter may go in a search anchored on one patient's reference rows (patient-anchor.ts): its rank in
   * the probe order — equality on tokens and references first, since they rule out most of a patient's resources;
   * ranges, text and negations last — or undefined when it needs more of the resource row than its rid (`_id`,
   * `_lastUpdated`, `_has`, `_list`, `_filter`, `near`) or is unknown (then it is compiled, and reported, as usual).
   */
  probeRank(types: string[], name: string): number | undefined {
    if (name === '_content' || name === '_text') return 7;
    if (name.startsWith('_has:') || name === '_list' || name === '_filter') return undefined;
    const dot = name.indexOf('.');
    if (dot >= 0) return 2;
    const [code, modifier] = name.split(':');
    const def = types.map((t) => this.registry.get(t, code)).find((d) => d !== undefined);
    if (!def || def.column || !(def.type in PROBE_RANK)) return undefined;
    if (modifier && ['missing', 'not', 'not-in', 'contains', 'text'].includes(modifier)) return 8;
    return PROBE_RANK[def.type];
  }

  /** Membership in a compartment, e.g. Patient/123 for Observation: one of the compartment's parameters points at it. */
  compartment(scope: Scope, compartmentType: string, id: string): string {
    return this.inCompartments(scope, compartmentType, [id], false);
  }

  /**
   * Membership in the compartment of any of `ids` (e.g. the patients of a `patient/` scope). With `othersPass`,
   * resources of types that are not in that kind of compartment at all (Organization, Medication, ...) pass too —
   * the rule for access restrictions, where such shared data is governed by the scope's types alone.
   */
  inCompartments(scope: Scope, compartmentType: string, ids: string[], othersPass: boolean): string {
    const { sql } = this.ctx;
    const def = R4Definitions.get().compartments.get(compartmentType);
    if (!def) throw FhirError.badRequest(`${compartmentType} is not a compartment type`);
    for (const id of ids) if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw FhirError.badRequest(`Invalid compartment id '${id}'`);
    const r = scope.alias;
    // types grouped by the set of their compartment parameters, so a parameter only counts for the types it is listed for
    const byPids = new Map<string, { pids: number[]; types: string[] }>();
    const selfTypes: string[] = [];
    const outside: string[] = [];
    for (const t of scope.types) {
      const codes = def.resources.get(t);
      if (!codes) {
        outside.push(t);
        continue;
      }
      // an access restriction to a patient covers that Patient resource itself (R4 lists only `link` for it)
      if (codes.includes('{def}') || (othersPass && t === compartmentType)) selfTypes.push(t);
      const pids = compartmentPids(this.registry, compartmentType, [t]).sort((a, b) => a - b);
      if (!pids.length) continue;
      const key = pids.join(',');
      if (!byPids.has(key)) byPids.set(key, { pids, types: [] });
      byPids.get(key)!.types.push(t);
    }
    const one = scope.types.length === 1;
    const typeIs = (types: string[]) => (one ? '' : `${typeIn(`${r}.resource_type`, types)} AND `);
    const idIn = (col: string) => (ids.length === 1 ? `${col} = ${sql.p(ids[0])}` : `${col} = ANY(${sql.p(ids, 'text[]')})`);
    const parts: string[] = [];
    if (othersPass && outside.length) parts.push(one ? 'true' : typeIn(`${r}.resource_type`, outside));
    for (const { pids, types } of byPids.values()) {
      const c = sql.alias('k');
      parts.push(`(${typeIs(types)}EXISTS (SELECT 1 FROM sp_reference ${c} WHERE ${c}.rid = ${r}.rid AND ${pidIn(sql, c, pids)}
                  AND ${idIn(`${c}.tid`)} AND ${c}.rtype = ${sql.p(compartmentType)}))`);
    }
    if (selfTypes.length) parts.push(`(${typeIn(`${r}.resource_type`, [compartmentType])} AND ${idIn(`${r}.id`)})`);
    return orJoin(parts);
  }

  /** Resource types that can be in a compartment. */
  static compartmentTypes(compartmentType: string): string[] {
    const def = R4Definitions.get().compartments.get(compartmentType);
    return def ? [...def.resources.keys()] : [];
  }
}
