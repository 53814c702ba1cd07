import { FhirError } from '../../../operation-outcome.js';
import { ofTypePid } from '../../extract/search-parameter-indexer.js';
import type { SearchParamDef, SearchParamType } from '../../params/search-param-registry.js';
import { foldText } from '../../values/text-fold.js';
import { orValues, splitUnescaped, unescapeValue } from '../search-values.js';
import { likeEscape, orJoin, probeTail, type Scope, type SqlParams } from '../sql-params.js';
import { compositeCondition } from './composite-condition.js';
import { dateCondition, numberCondition, quantityCondition } from './range-conditions.js';
import { referenceCondition } from './reference-condition.js';
import { nearCondition } from './near-condition.js';
import type { Terminology } from '../terminology.js';
import type { FilterPlan } from '../filter-plans.js';
import type { OrderedCandidates } from '../page-statement.js';

/** What a condition may need besides the SQL under construction. */
export interface ConditionContext {
  sql: SqlParams;
  /** absolute FHIR base of this server: references to it are local */
  baseUrl: string;
  terminology: Terminology;
  /** how each top-level `_has` and full-text filter (`name=value`) should run, chosen by estimate (filter-plans.ts) */
  plans?: Map<string, FilterPlan>;
}

export const TABLE_OF: Record<string, string> = {
  token: 'sp_token',
  string: 'sp_string',
  date: 'sp_date',
  number: 'sp_number',
  quantity: 'sp_quantity',
  reference: 'sp_reference',
  uri: 'sp_uri',
  composite: 'sp_composite',
};

/** Modifiers each parameter type accepts (also what the CapabilityStatement reports). `[type]` stands for `:Patient` etc. */
export const MODIFIERS: Record<SearchParamType, string[]> = {
  string: ['missing', 'exact', 'contains', 'not'],
  token: ['missing', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  reference: ['missing', '[type]', 'identifier', 'not', 'above', 'below'],
  date: ['missing', 'not'],
  number: ['missing', 'not'],
  quantity: ['missing', 'not'],
  uri: ['missing', 'above', 'below', 'not', 'contains'],
  composite: ['missing'],
  special: [],
};

/**
 * SQL (a boolean expression on the scope's resource alias) for one parameter occurrence `name[:modifier]=v1,v2`
 * (an OR of values), for a parameter known on the scope's types (`defs`, one per type, same parameter type).
 */
export function leafCondition(ctx: ConditionContext, scope: Scope, defs: SearchParamDef[], modifier: string | undefined, raw: string, name: string): string {
  const def = defs[0];
  const { sql } = ctx;
  if (def.column) return columnCondition(ctx, scope, def, modifier, raw, name);
  if (def.type === 'special' && def.code === 'near' && def.resourceType === 'Location') {
    if (modifier) throw FhirError.badRequest(`Modifier :${modifier} is not supported for ${name}`);
    return nearCondition(sql, scope, raw, name);
  }
  const table = TABLE_OF[def.type];
  if (!table) throw FhirError.badRequest(`Parameter ${name} cannot be searched`);
  if (modifier === 'missing') {
    if (raw !== 'true' && raw !== 'false') throw FhirError.badRequest(`:missing takes true or false (parameter ${name})`);
    return `${raw === 'true' ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} m WHERE m.rid = ${scope.alias}.rid AND ${pidIn(sql, 'm', defs.map((d) => d.pid))}${probeTail(scope)})`;
  }
  const m = indexRowMatch(ctx, table, defs, modifier, raw, name);
  const not = m.negate ? 'NOT ' : '';
  if (scope.probe) {
    // A probe reads the anchor row's own index rows by rid and checks them, whatever the statistics say: fenced
    // (`OFFSET 0`), the value conditions cannot reach an index. Unfenced, a cached generic plan intersected the rid
    // index with the value index (a BitmapAnd) once ANALYZE put a code at 16 rows — reading all 43,313 rows of a
    // common code for every probe (Observation?patient&code&date at 1M: 0.4 → 420 ms, 8 requests/s).
    return `${not}EXISTS (SELECT 1 FROM (SELECT * FROM ${table} WHERE rid = ${scope.alias}.rid OFFSET 0) ${m.x} WHERE ${m.where})`;
  }
  return `${not}EXISTS (SELECT 1 FROM ${m.from} WHERE ${m.x}.rid = ${scope.alias}.rid AND ${m.where})`;
}

/**
 * A date condition that holds exactly for the resources with a matching index row (`EXISTS` over `sp_date`, not
 * negated), in three forms over the same bound values: the condition itself, the rids of the matching rows
 * (`SELECT x.rid FROM …`: index rows exist only for live, current resources, and their pid fixes the type), and the
 * condition as a per-row probe (`OFFSET 0`). The page statement chooses between reading the matches' rids and
 * walking the resources (page-statement.ts, `candidates`). Undefined for other conditions.
 */
export interface LeafCandidates {
  cond: string;
  rids: string;
  probe: string;
  /** the matches' rids for a page read in rid order from an index (see page-statement.ts `OrderedCandidates`) */
  ordered?: OrderedCandidates;
}

export function leafCandidates(ctx: ConditionContext, scope: Scope, defs: SearchParamDef[], modifier: string | undefined, raw: string, name: string): LeafCandidates | undefined {
  const def = defs[0];
  const table = TABLE_OF[def.type];
  // Only dates so far: their indexes hold the rid ((pid, hi, rid, lo), (pid, lo, rid, hi)), so the rids of the
  // matches come from the index alone. Token, string and quantity indexes do not: reading the rids of 5,000
  // matches of a common code fetched 4,620 heap pages (23 ms at 1M) where walking found a page in 1 ms.
  // (decided before anything is bound: a value bound and then not used would have no type)
  if (def.column || table !== 'sp_date' || modifier === 'missing' || modifier === 'not') return undefined;
  const m = indexRowMatch(ctx, table, defs, modifier, raw, name);
  const exists = (tail: string) => `EXISTS (SELECT 1 FROM ${m.from} WHERE ${m.x}.rid = ${scope.alias}.rid AND ${m.where}${tail})`;
  return { cond: exists(probeTail(scope)), rids: `SELECT ${m.x}.rid FROM ${m.from} WHERE ${m.where}`, probe: exists(' OFFSET 0') };
}

/** Whether `tokenRowMatch` applies (asked before anything is bound). */
export const isTokenRowMatch = (def: SearchParamDef, modifier: string | undefined): boolean =>
  def.type === 'token' && !def.column && modifier !== 'missing' && modifier !== 'not' && modifier !== 'not-in';

/**
 * The `sp_token` rows that match a token parameter `name[:modifier]=v1,v2`: their alias and the condition on it
 * (the per-row part of `leafCondition`, for parameters `isTokenRowMatch` accepts).
 */
export function tokenRowMatch(ctx: ConditionContext, defs: SearchParamDef[], modifier: string | undefined, raw: string, name: string, alias?: string): { x: string; where: string } {
  const m = indexRowMatch(ctx, 'sp_token', defs, modifier, raw, name, alias);
  return { x: m.x, where: m.where };
}

/** The index rows that match `name[:modifier]=v1,v2` (an OR of values): `FROM`, the row alias and the condition. */
function indexRowMatch(ctx: ConditionContext, table: string, defs: SearchParamDef[], modifier: string | undefined, raw: string, name: string, alias?: string): { from: string; x: string; where: string; negate: boolean } {
  const def = defs[0];
  checkModifier(def.type, modifier, name);
  const x = alias ?? ctx.sql.alias('x');
  let pids = defs.map((d) => d.pid);
  if (modifier === 'of-type') pids = pids.map(ofTypePid);
  const conds = orValues(raw, true).map((v) => valueCondition(ctx, x, def, modifier, v, name));
  return { from: `${table} ${x}`, x, where: `${pidIn(ctx.sql, x, pids)} AND ${orJoin(conds)}`, negate: modifier === 'not' || modifier === 'not-in' };
}

export function pidIn(_sql: SqlParams, x: string, pids: number[]): string {
  // parameter ids are our own integers (hashes of type and code): written as literals, so the planner sees which
  // parameter it is estimating for, also in a cached generic plan
  const unique = [...new Set(pids)];
  for (const p of unique) if (!Number.isInteger(p)) throw new Error(`not a parameter id: ${p}`);
  return unique.length === 1 ? `${x}.pid = ${unique[0]}` : `${x}.pid IN (${unique.join(', ')})`;
}

function checkModifier(type: SearchParamType, modifier: string | undefined, name: string): void {
  if (!modifier) return;
  const allowed = MODIFIERS[type] ?? [];
  if (allowed.includes(modifier)) return;
  if (type === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier)) return;
  throw FhirError.badRequest(`Modifier :${modifier} is not supported for ${type} parameter ${name} (supported: ${allowed.join(', ') || 'none'})`);
}

/** One value (escapes kept, the caller split on unescaped commas) → condition on index row alias x. */
function valueCondition(ctx: ConditionContext, x: string, def: SearchParamDef, modifier: string | undefined, v: string, name: string): string {
  const { sql } = ctx;
  switch (def.type) {
    case 'string':
      return stringCondition(sql, `${x}.norm`, `${x}.exact`, modifier, unescapeValue(v));
    case 'token':
      return tokenCondition(ctx, x, modifier, v, name);
    case 'date':
      return dateCondition(sql, `${x}.lo`, `${x}.hi`, unescapeValue(v), name);
    case 'number':
      return numberCondition(sql, `${x}.lo`, `${x}.hi`, unescapeValue(v), name);
    case 'quantity':
      return quantityCondition(sql, x, v, name);
    case 'uri':
      return uriCondition(sql, x, modifier, unescapeValue(v));
    case 'reference':
      return referenceCondition(ctx, x, def, modifier, v, name);
    case 'composite':
      return compositeCondition(ctx, x, def, v, name);
    default:
      throw FhirError.badRequest(`Parameter ${name} cannot be searched`);
  }
}

export function stringCondition(sql: SqlParams, norm: string, exact: string, modifier: string | undefined, v: string): string {
  if (modifier === 'exact') return `(${norm} = ${sql.p(foldText(v))} AND ${exact} = ${sql.p(v)})`;
  const folded = likeEscape(foldText(v));
  if (modifier === 'contains') return `${norm} LIKE ${sql.p(`%${folded}%`)}`;
  // the prefix as a range too: a generic plan (named statements, after five runs) cannot turn `LIKE $1` into an
  // index range, and would read every value of the parameter instead
  const prefix = foldText(v);
  const upper = prefixUpperBound(prefix);
  const like = `${norm} LIKE ${sql.p(`${folded}%`)}`;
  return upper === undefined ? like : `(${norm} >= ${sql.p(prefix)} AND ${norm} < ${sql.p(upper)} AND ${like})`;
}

/** The least string above every string that starts with `prefix` in code point order (COLLATE "C"). */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = [...prefix];
  while (cps.length) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return cps.join('') + String.fromCodePoint(last + 1 === 0xd800 ? 0xe000 : last + 1);
  }
  return undefined;
}

function tokenCondition(ctx: ConditionContext, x: string, modifier: string | undefined, v: string, name: string): string {
  const { sql } = ctx;
  if (modifier === 'text') {
    const f = likeEscape(foldText(unescapeValue(v)));
    return `(${x}.txt LIKE ${sql.p(`${f}%`)} OR ${x}.txt LIKE ${sql.p(`% ${f}%`)})`;
  }
  if (modifier === 'in' || modifier === 'not-in') return codesCondition(sql, x, ctx.terminology.expand(unescapeValue(v)));
  const parts = splitUnescaped(v, '|').map(unescapeValue);
  if (modifier === 'of-type') {
    if (parts.length !== 3 || !parts[1] || !parts[2]) throw FhirError.badRequest(`:of-type takes system|code|value (parameter ${name})`);
    const conds = [`${x}.code = ${sql.p(parts[1])}`, `${x}.txt = ${sql.p(parts[2])}`];
    if (parts[0]) conds.push(`${x}.sys = ${sql.p(parts[0])}`);
    return `(${conds.join(' AND ')})`;
  }
  if (parts.length > 2) throw FhirError.badRequest(`Invalid token '${unescapeValue(v)}' for parameter ${name} (expected [system|]code)`);
  if (modifier === 'below' || modifier === 'above') {
    const [system, code] = parts.length === 2 ? parts : ['', parts[0]];
    const codes = modifier === 'below' ? ctx.terminology.descendants(system, code) : ctx.terminology.ancestors(system, code);
    return codesCondition(sql, x, codes);
  }
  if (parts.length === 1) return `${x}.code = ${sql.p(parts[0])}`;
  const [system, code] = parts;
  if (!system && !code) throw FhirError.badRequest(`Empty token for parameter ${name}`);
  if (!system) return `(${x}.sys IS NULL AND ${x}.code = ${sql.p(code)})`;
  if (!code) return `${x}.sys = ${sql.p(system)}`;
  return `(${x}.code = ${sql.p(code)} AND ${x}.sys = ${sql.p(system)})`;
}

/** Membership in a set of (system, code) pairs; an empty system in the set matches any system. */
function codesCondition(sql: SqlParams, x: string, codes: { system: string; code: string }[]): string {
  if (!codes.length) return 'false';
  const u = sql.alias('u');
  return `EXISTS (SELECT 1 FROM unnest(${sql.p(codes.map((c) => c.code), 'text[]')}, ${sql.p(codes.map((c) => c.system), 'text[]')}) AS ${u}(c, s)
          WHERE ${x}.code = ${u}.c AND (${u}.s = '' OR ${x}.sys IS NULL OR ${x}.sys = ${u}.s))`;
}

function uriCondition(sql: SqlParams, x: string, modifier: string | undefined, v: string): string {
  if (modifier === 'below') return `${x}.uri LIKE ${sql.p(`${likeEscape(v)}%`)}`;
  if (modifier === 'contains') return `${x}.uri LIKE ${sql.p(`%${likeEscape(v)}%`)}`;
  if (modifier === 'above') {
    // every path prefix of the value: http://a/b/c → http://a/b/c, http://a/b, http://a
    const prefixes: string[] = [];
    let s = v;
    while (s && /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/./i.test(s)) {
      prefixes.push(s);
      s = s.slice(0, s.lastIndexOf('/'));
    }
    prefixes.push(s);
    return `${x}.uri = ANY(${sql.p(prefixes, 'text[]')})`;
  }
  return `${x}.uri = ${sql.p(v)}`;
}

/** `_id` and `_lastUpdated` are columns of the resource row itself. */
function columnCondition(ctx: ConditionContext, scope: Scope, def: SearchParamDef, modifier: string | undefined, raw: string, name: string): string {
  const { sql } = ctx;
  const r = scope.alias;
  if (modifier && !(def.column === 'id' && modifier === 'not')) throw FhirError.badRequest(`Modifier :${modifier} is not supported for ${name}`);
  const values = orValues(raw);
  if (def.column === 'id') {
    for (const v of values) if (!/^[A-Za-z0-9\-.]{1,64}$/.test(v)) throw FhirError.badRequest(`Invalid id '${v}' for parameter _id`);
    const cond = values.length === 1 ? `${r}.id = ${sql.p(values[0])}` : `${r}.id = ANY(${sql.p(values, 'text[]')})`;
    return modifier === 'not' ? `NOT ${cond}` : cond;
  }
  return orJoin(values.map((v) => dateCondition(sql, `${r}.last_updated`, `${r}.last_updated`, v, name)));
}
