import { FhirError } from '../../operation-outcome.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import type { Cursor } from './cursor.js';
import { pidIn } from './conditions/leaf-conditions.js';
import type { SortKey } from './search-request-parser.js';
import type { Scope, SqlParams } from './sql-params.js';

/**
 * What a page or include statement returns of each resource: its type and id (for the fullUrl, include keys and
 * audit) and its stored JSON as text — put into the Bundle as it is, without parsing or re-serialising it.
 */
export const ENTRY_COLUMNS = 'v.resource_type AS type, v.id, v.content::text AS content';

/** A sort key as SQL: never NULL (missing values get a sentinel that sorts them last), with its type for cursors. */
interface SortExpr {
  expr: string;
  desc: boolean;
  cast: 'text' | 'timestamptz' | 'numeric';
  /** the index table column whose order this key follows, when the page may be read in index order */
  indexed?: { table: string; col: string; pidCond: (alias: string) => string; sentinel: string; ridKey?: boolean };
}

const TEXT_MAX = `chr(1114111)`;

/** `_sort` keys → SQL expressions over the scope's resource alias (correlated min/max over the index rows). */
export function sortExpressions(sql: SqlParams, registry: SearchParamRegistry, scope: Scope, keys: SortKey[]): SortExpr[] {
  const r = scope.alias;
  return keys.map(({ code, desc }) => {
    if (code === '_id') return { expr: `${r}.id`, desc, cast: 'text' as const };
    if (code === '_lastUpdated') return { expr: `${r}.last_updated`, desc, cast: 'timestamptz' as const };
    const defs = scope.types.map((t) => registry.get(t, code)).filter((d) => d !== undefined);
    if (!defs.length) throw FhirError.badRequest(`Unknown _sort parameter '${code}'`);
    const pids = defs.map((d) => d.pid);
    const pidCond = pidIn(sql, 's', pids);
    const agg = desc ? 'max' : 'min';
    const sub = (table: string, col: string) => `(SELECT ${agg}(s.${col}) FROM ${table} s WHERE s.rid = ${r}.rid AND ${pidCond})`;
    const indexed = (table: string, col: string, sentinel: string, ridKey = false) => ({ table, col, sentinel, ridKey, pidCond: (a: string) => pidIn(sql, a, pids) });
    const textSentinel = desc ? `''` : TEXT_MAX;
    switch (defs[0].type) {
      case 'date': {
        const sentinel = `'${desc ? '-infinity' : 'infinity'}'::timestamptz`;
        return { expr: `COALESCE(${sub('sp_date', desc ? 'hi' : 'lo')}, ${sentinel})`, desc, cast: 'timestamptz' as const, indexed: indexed('sp_date', desc ? 'hi' : 'lo', sentinel, true) };
      }
      case 'number':
        return { expr: `COALESCE(${sub('sp_number', desc ? 'hi' : 'lo')}, '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, desc, cast: 'numeric' as const };
      case 'quantity':
        return { expr: `COALESCE(${sub('sp_quantity', desc ? 'hi' : 'lo')}, '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, desc, cast: 'numeric' as const };
      case 'string':
        return { expr: `COALESCE(${sub('sp_string', 'norm')}, ${textSentinel})`, desc, cast: 'text' as const, indexed: indexed('sp_string', 'norm', textSentinel) };
      case 'token':
        return { expr: `COALESCE(${sub('sp_token', 'code')}, ${textSentinel})`, desc, cast: 'text' as const, indexed: indexed('sp_token', 'code', textSentinel) };
      case 'reference':
        return { expr: `COALESCE(${sub('sp_reference', 'tid')}, ${textSentinel})`, desc, cast: 'text' as const, indexed: indexed('sp_reference', 'tid', textSentinel) };
      case 'uri':
        return { expr: `COALESCE(${sub('sp_uri', 'uri')}, ${textSentinel})`, desc, cast: 'text' as const, indexed: indexed('sp_uri', 'uri', textSentinel) };
      default:
        throw FhirError.badRequest(`Cannot sort by ${defs[0].type} parameter '${code}'`);
    }
  });
}

export interface PageStatementInput {
  scope: Scope;
  /** conditions on the scope alias (types, not deleted, filters) */
  where: string[];
  sort: SortExpr[];
  cursor?: Cursor;
  /** rows to fetch (the page size plus one, to know whether there is more) */
  limit: number;
  total: 'none' | 'estimate' | 'accurate';
  /**
   * A condition that is costly per row (the consent decision): checked only on the candidates the page walks, in
   * page order, until the page is full — not on every match. It may use the scope alias' rid, resource_type and id.
   * The total counts with it.
   */
  late?: string;
  /**
   * The late condition's matches are common and the statement is planned once (a generic plan; its filters are
   * per-row probes): the matches are fenced by a `LIMIT` bound to bigint's largest value instead of `OFFSET 0`.
   * PostgreSQL plans what is under `OFFSET 0` for reading every row (there it read the whole type and sorted it),
   * and what is under a bound `LIMIT` for reading 10 % of them: the type's resources in page order, until the page
   * is full. Not for rare matches, where a walk would pass every resource of the type: those keep `OFFSET 0`.
   */
  lateWalk?: boolean;
  /** a scalar expression evaluated once and returned as column `extra` (what the consent condition read) */
  extra?: string;
  /** a CTE the conditions refer to (`name AS (...)`), put first in the statement's WITH */
  with?: string;
  /** a search by one parameter: the page may be read from the matches' rids (see `candidatePage`) */
  candidates?: PageCandidates;
  /**
   * `_include`/`_revinclude` in the same statement (include-statement.ts `includeCtes`, written over `pg`, the
   * first `count` rows of the page): their rows follow the page's, marked `part` 1.
   */
  include?: { ctes: string; recursive: boolean; count: number };
}

export const ESTIMATE_CAP = 10_000;

/**
 * The page of a search by one parameter may start from the matches' rids instead of walking the resources in rid
 * order: `rids` is a query of them, `where[at]` the condition they satisfy (its EXISTS form), `probe` the same as a
 * per-row probe. See `candidatePage`.
 */
export interface PageCandidates {
  at: number;
  rids: string;
  probe: string;
  /** CANDIDATES_CAP unless given */
  cap?: number;
  /** When given, the page is read from these instead (`orderedPage`). */
  ordered?: OrderedCandidates;
}

/**
 * The matches' rids in two parts: `stepped(bound, desc)` yields each distinct rid once, produced in rid order
 * (ascending, or descending when `desc`) from `bound` on (a comparison with the cursor's rid), one index probe
 * each, so reading stops when the page is full; `rest` is a query of the (few) other matching rids.
 */
export interface OrderedCandidates {
  stepped: (bound: string | undefined, desc: boolean) => string;
  rest: string;
}

/**
 * Matches up to which the page is read from their rids (the index entries of at most this many matches, then the
 * resources of the page by rid, in order), and beyond which the resources are walked in rid order and each is
 * probed until the page is full. Reading the rids costs ~0.1 µs each from an index (a fixed cost the walk pays
 * too: the statement reads up to this many before it knows); the walk costs a probe per resource until the page
 * is full, ~21 × (resources of the type ÷ matches): 50,000 Encounters and 2,000 matches make ~500 probes.
 */
export const CANDIDATES_CAP = 2_000;

/**
 * One statement for a page: the matching rows in keyset order (only rid and sort keys, so content is read for the
 * page's rows only), joined to their content, plus the total when asked. A backwards page (`prev` cursor) is read in
 * reverse order; the caller flips it.
 */
export function pageStatement(sql: SqlParams, input: PageStatementInput): string {
  if (input.sort[0]?.indexed) return indexOrderedPageStatement(sql, input);
  const r = input.scope.alias;
  const reverse = input.cursor?.dir === 'prev';
  const where = [...input.where];
  if (input.cursor) where.push(keysetCondition(sql, r, input.sort, input.cursor, reverse, false));
  const order = [...input.sort.map((k, i) => `k${i} ${k.desc !== reverse ? 'DESC' : 'ASC'}`), `rid ${reverse ? 'DESC' : 'ASC'}`];
  const keyCols = input.sort.map((k, i) => `${k.expr} AS k${i}`);
  const total = totalExpression(sql, input);
  if (input.candidates?.ordered && !input.sort.length && !input.late) {
    return finish(sql, input, [...(input.with ? [input.with] : []), orderedPage(sql, r, where, input.candidates, input.cursor, reverse, rowCount(input.limit))], order.map((o) => `p.${o}`), total);
  }
  if (input.candidates && !input.sort.length && !input.late) {
    return finish(sql, input, [...(input.with ? [input.with] : []), ...candidatePage(r, where, input.candidates, order.join(', '), rowCount(input.limit))], order.map((o) => `p.${o}`), total);
  }
  const page = limited(r, `${r}.rid, ${r}.version_id${keyCols.length ? ', ' + keyCols.join(', ') : ''}`, `resource ${r} WHERE ${where.join(' AND ')}`, order.join(', '), rowCount(input.limit), lateOf(sql, input));
  return finish(sql, input, [...(input.with ? [input.with] : []), `page AS (${page})`], order.map((o) => `p.${o}`), total);
}

/**
 * A row count written into the statement as a literal, not bound. With a parameter, a generic plan does not know
 * the LIMIT and assumes 10 % of the matches, so its estimated cost can be far above the custom plans', and
 * PostgreSQL then re-plans the statement at every execution. Measured at 1M (`pg_stat_statements`, bench/search.js):
 * the `_has` and `_content` walks were planned at every call (0.34–0.52 ms each) and now settle on a generic plan;
 * `_content` 748–853 → 815–927 req/s, PostgreSQL 1.35–1.50 → 1.21–1.36 ms per request (alternating builds). The
 * chained search and the `_sort` page are still planned at every call (their generic plans are estimated dearer
 * for other reasons). Page sizes are few, so each is one more statement shape.
 */
export function rowCount(n: number): string {
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a row count: ${n}`);
  return String(n);
}

/**
 * A page in rid order of a search by one parameter, read one of two ways decided when the statement runs, by how
 * many rows match (`cand`: the rids of at most CANDIDATES_CAP + 1 matching index rows, read once):
 * - few: the resources whose rid is among them (`rid = ANY(array)`: an index scan of `resource (resource_type,
 *   rid)` that returns rows in rid order, so it stops when the page is full);
 * - many: the resources walked in rid order, each probed (a per-row sub-plan that stops when the page is full).
 * Written as one condition, PostgreSQL chooses one plan for every value (a cached generic plan cannot know how
 * common a value is): at 1M, `Encounter?date=` a day looked up each of the day's 192 encounters before sorting them
 * (1.5 ms; 0.3 ms read this way), and a range of years gathered and sorted 23,087 (145 ms). A one-time filter
 * (`(SELECT count(*) FROM cand) <= cap`) skips the branch that is not taken without running it. The choice is made
 * when the statement runs, so one generic plan serves every value (the engine asks for one: left to itself,
 * PostgreSQL planned this statement afresh at every call, 0.9 ms of planning at 1M).
 */
function candidatePage(r: string, where: string[], c: PageCandidates, order: string, limit: string): string[] {
  const n = c.cap ?? CANDIDATES_CAP;
  const cap = rowCount(n);
  const others = where.filter((_, i) => i !== c.at);
  const few = [...others, `${r}.rid = ANY(ARRAY(SELECT rid FROM cand))`, `(SELECT count(*) FROM cand) <= ${cap}`];
  const many = [...others, c.probe, `(SELECT count(*) FROM cand) > ${cap}`];
  const branch = (conds: string[]) => `(SELECT ${r}.rid, ${r}.version_id FROM resource ${r} WHERE ${conds.join(' AND ')} ORDER BY ${order} LIMIT ${limit})`;
  return [`cand AS MATERIALIZED (${c.rids} LIMIT ${rowCount(n + 1)})`, `page AS (${branch(few)} UNION ALL ${branch(many)})`];
}

/**
 * A page in rid order read from its matches' rids as `OrderedCandidates.stepped` produces them, each joined to its
 * resource (a LATERAL lookup: always a nested loop, so reading stops when the page is full), merged with the
 * resources of the other matches (`rest`). The outer ORDER BY and keyset condition keep the page right; the stepped
 * order only decides how little is read. Every part is an index probe whatever the plan: PostgreSQL's own plans for
 * a DISTINCT of the matches were either ordered (generic plans) or hashed every match of a common code and merged
 * it with all Patients (custom plans: 150–300 ms at 1M).
 * `Patient?_has:Observation:patient:code=x` at 1M: ~21 probes of the index whatever the code's frequency, against
 * reading up to 2,000 matches' Patients or walking the Patients (`candidatePage`).
 */
function orderedPage(sql: SqlParams, r: string, where: string[], c: PageCandidates, cursor: Cursor | undefined, reverse: boolean, limit: string): string {
  const others = where.filter((_, i) => i !== c.at).join(' AND ');
  const dir = reverse ? 'DESC' : 'ASC';
  const bound = cursor ? `${reverse ? '<' : '>'} ${sql.p(cursor.rid, 'bigint')}` : undefined;
  const { stepped, rest } = c.ordered!;
  const first = `SELECT l.rid, l.version_id FROM (${stepped(bound, reverse)}) s
      CROSS JOIN LATERAL (SELECT ${r}.rid, ${r}.version_id FROM resource ${r} WHERE ${r}.rid = s.rid AND ${others} OFFSET 0) l LIMIT ${limit}`;
  const second = `SELECT ${r}.rid, ${r}.version_id FROM resource ${r} WHERE ${others} AND ${r}.rid = ANY(ARRAY(${rest})) ORDER BY ${r}.rid ${dir} LIMIT ${limit}`;
  return `page AS (SELECT * FROM ((${first}) UNION ALL (${second})) m ORDER BY rid ${dir} LIMIT ${limit})`;
}

/**
 * `SELECT cols FROM from ORDER BY order LIMIT limit`. With a late condition the matches are taken in order and the
 * condition is checked on them one by one until the page is full: `OFFSET 0` keeps the planner from pushing it down
 * to every match, and the outer query has no ORDER BY of its own, so the LIMIT's row estimate still reaches the
 * inner plan (an index read in key order stays a fast start). The inner order is kept: a filter over one ordered
 * subquery does not reorder rows.
 */
function limited(r: string, cols: string, from: string, order: string, limit: string, late: LateCheck | undefined): string {
  if (!late) return `SELECT ${cols} FROM ${from} ORDER BY ${order} LIMIT ${limit}`;
  // the row count as a literal: with a parameter a generic plan assumes 10 % of the matches and may walk the whole
  // table in key order to find a patient's few rows (8 ms instead of 0.1 ms at 2,000 patients); a literal lets the
  // inner plan be chosen for this page size, as the statement without consent is
  return `SELECT * FROM (SELECT ${cols}, ${r}.resource_type, ${r}.id FROM ${from} ORDER BY ${order} ${late.fence}) ${r} WHERE ${late.condition} LIMIT ${late.rows}`;
}

/** The late condition, the page's row count and the fence of the matches it is checked on (`lateWalk`). */
interface LateCheck {
  condition: string;
  rows: number;
  fence: string;
}

function lateOf(sql: SqlParams, input: PageStatementInput): LateCheck | undefined {
  if (!input.late) return undefined;
  return { condition: input.late, rows: input.limit, fence: input.lateWalk ? `LIMIT ${sql.p('9223372036854775807', 'bigint')}` : 'OFFSET 0' };
}

// computed once (a scalar subquery) and sent as text: only the first row's is read
const extraColumn = (input: PageStatementInput) => (input.extra ? ', t.extra' : '');
const extraValue = (input: PageStatementInput) => (input.extra ? `, (SELECT (${input.extra})::text) AS extra` : '');

function totalExpression(sql: SqlParams, input: PageStatementInput): string {
  const r = input.scope.alias;
  const baseWhere = [...input.where, ...(input.late ? [input.late] : [])].join(' AND ');
  if (input.total === 'accurate') return `(SELECT count(*) FROM resource ${r} WHERE ${baseWhere})`;
  if (input.total === 'estimate') return `(SELECT count(*) FROM (SELECT 1 FROM resource ${r} WHERE ${baseWhere} LIMIT ${ESTIMATE_CAP}) e)`;
  return 'NULL::bigint';
}

/**
 * A page sorted by a search parameter, read in the order of that parameter's index instead of computing the key
 * of every match and sorting them (which costs a pass over all matches: seconds at a million rows, at every page).
 * The matches fall in two parts: those with a value, in index order — one row per resource, the one holding its
 * sort value (min for ascending, max for descending; ties broken by ctid) — then those without a value, which
 * sort last (first when reading backwards). The second part is only read when the first did not fill the page,
 * and the cursor tells which part a page continues in. The planner still chooses the join order, so a selective
 * filter is applied first and its few matches sorted. Ties are broken by rid in the direction of the first key;
 * date indexes carry the rid after the bound (`(pid, hi, rid, lo)`), so a date-sorted page is read in exactly
 * this order and its cursor `(bound, rid)` is an index condition: the scan starts at the cursor instead of
 * stepping over every row that shares its date.
 */
function indexOrderedPageStatement(sql: SqlParams, input: PageStatementInput): string {
  const r = input.scope.alias;
  const [first, ...rest] = input.sort;
  const ix = first.indexed!;
  const reverse = input.cursor?.dir === 'prev';
  const limit = rowCount(input.limit);
  const s = sql.alias('o');
  const s2 = sql.alias('o');
  const keyed = first.desc !== reverse ? 'DESC' : 'ASC';
  const restCols = rest.map((k, i) => `, ${k.expr} AS k${i + 1}`).join('');
  const restOrder = rest.map((k, i) => `k${i + 1} ${k.desc !== reverse ? 'DESC' : 'ASC'}, `).join('');
  const ridOrder = `rid ${keyed}`;
  const ridDesc = first.desc;
  // the one index row per resource that carries its sort value
  const better = first.desc ? `${s2}.${ix.col} > ${s}.${ix.col}` : `${s2}.${ix.col} < ${s}.${ix.col}`;
  const valued = [
    ix.pidCond(s),
    ...input.where,
    `NOT EXISTS (SELECT 1 FROM ${ix.table} ${s2} WHERE ${s2}.rid = ${s}.rid AND ${ix.pidCond(s2)} AND (${better} OR (${s2}.${ix.col} = ${s}.${ix.col} AND ${s2}.ctid > ${s}.ctid)))`,
  ];
  const missing = [...input.where, `NOT EXISTS (SELECT 1 FROM ${ix.table} ${s2} WHERE ${s2}.rid = ${r}.rid AND ${ix.pidCond(s2)})`];
  let partOrder = reverse ? [1, 0] : [0, 1];
  if (input.cursor) {
    const cursorInMissing = input.cursor.keys[0] === sentinelText(first);
    const sortOfValued: SortExpr[] = [{ ...first, expr: `${s}.${ix.col}` }, ...rest];
    if (cursorInMissing) {
      missing.push(keysetCondition(sql, r, input.sort.map((k, i) => (i === 0 ? { ...k, expr: ix.sentinel } : k)), input.cursor, reverse, ridDesc));
      if (!reverse) partOrder = [1];
    } else {
      const v = sql.p(input.cursor.keys[0], first.cast);
      // a plain range on the index column as well, so the index scan starts at the cursor
      valued.push(`${s}.${ix.col} ${first.desc !== reverse ? '<=' : '>='} ${v}`);
      // the same position as one row comparison on the index's own columns: where the index scan starts
      if (ix.ridKey && !rest.length) valued.push(`(${s}.${ix.col}, ${s}.rid) ${first.desc !== reverse ? '<' : '>'} (${v}, ${sql.p(input.cursor.rid, 'bigint')})`);
      valued.push(keysetCondition(sql, r, sortOfValued, input.cursor, reverse, ridDesc));
      if (reverse) partOrder = [0];
    }
  }
  const late = lateOf(sql, input);
  const parts: Record<number, string> = {
    0: limited(r, `${r}.rid, ${r}.version_id, ${s}.${ix.col} AS k0${restCols}`, `${ix.table} ${s} JOIN resource ${r} ON ${r}.rid = ${s}.rid
        WHERE ${valued.join(' AND ')}`, `k0 ${keyed}, ${restOrder}${r}.${ridOrder}`, limit, late),
    1: limited(r, `${r}.rid, ${r}.version_id, ${ix.sentinel} AS k0${restCols}`, `resource ${r} WHERE ${missing.join(' AND ')}`, `${restOrder}${r}.${ridOrder}`, limit, late),
  };
  const [a, b] = partOrder;
  const cte = [`pa AS MATERIALIZED (${parts[a]})`];
  const union = [`SELECT 0 AS part, * FROM pa`];
  if (b !== undefined) {
    // read only when the first part left room on the page (a one-time filter: the scan is skipped otherwise)
    cte.push(`pb AS (SELECT * FROM (${parts[b]}) x WHERE (SELECT count(*) FROM pa) < ${limit})`);
    union.push(`SELECT 1 AS part, * FROM pb`);
  }
  const order = [`u.part`, `u.k0 ${keyed}`, ...rest.map((k, i) => `u.k${i + 1} ${k.desc !== reverse ? 'DESC' : 'ASC'}`), `u.${ridOrder}`];
  const pageCte = `page AS (SELECT * FROM (${union.join(' UNION ALL ')}) u ORDER BY ${order.join(', ')} LIMIT ${limit})`;
  return finish(sql, input, [...(input.with ? [input.with] : []), ...cte, pageCte], order.map((o) => o.replace(/^u\./, 'p.')), totalExpression(sql, input));
}

/**
 * The statement's WITH and final SELECT: the page's rows joined to their content, with the total (and the consent
 * context) on every row — one row with a NULL rid when the page is empty. With includes, the included rows follow
 * (`part` 1, in rid order), and the page's order is kept by numbering its rows.
 */
function finish(sql: SqlParams, input: PageStatementInput, ctes: string[], order: string[], total: string): string {
  const keys = input.sort.map((_, i) => `, p.k${i}::text AS k${i}`).join('');
  const pageRows = `SELECT p.rid::text AS rid, ${ENTRY_COLUMNS}${keys}, t.total::text AS total${extraColumn(input)}
    FROM (SELECT ${total} AS total${extraValue(input)}) t
    LEFT JOIN (page p JOIN resource_version v ON v.rid = p.rid AND v.version_id = p.version_id) ON true`;
  const inc = input.include;
  if (!inc) return `WITH ${ctes.join(',\n')}\n    ${pageRows}\n    ORDER BY ${order.join(', ')}`;
  const nulls = input.sort.map((_, i) => `, NULL AS k${i}`).join('') + ', NULL AS total' + (input.extra ? ', NULL AS extra' : '');
  // the page's rows without the one read ahead (it only tells whether there is a next page)
  const pg = `pg AS (SELECT p.rid FROM page p ORDER BY ${order.join(', ')} LIMIT ${rowCount(inc.count)})`;
  return `WITH ${inc.recursive ? 'RECURSIVE ' : ''}${[...ctes, pg, inc.ctes].join(',\n')}
    SELECT * FROM (
      SELECT 0 AS part, row_number() OVER (ORDER BY ${order.join(', ')}) AS n, ${pageRows.slice('SELECT '.length)}
      UNION ALL
      SELECT 1, f.rid, f.rid::text, ${ENTRY_COLUMNS}${nulls} FROM found f JOIN resource_version v ON v.rid = f.rid AND v.version_id = f.version_id
    ) u ORDER BY part, n`;
}

/** The sentinel of a key as it comes back in a cursor (the text form PostgreSQL gives the missing-value sentinel). */
function sentinelText(k: SortExpr): string {
  if (k.cast === 'timestamptz') return k.desc ? '-infinity' : 'infinity';
  return k.desc ? '' : String.fromCodePoint(0x10ffff);
}

/**
 * Rows after (or, reversed, before) the cursor row in the sort order: (k0, k1, ..., rid) compared key by key; rid
 * ascending unless `ridDesc`.
 */
function keysetCondition(sql: SqlParams, r: string, sort: SortExpr[], cursor: Cursor, reverse: boolean, ridDesc: boolean): string {
  if (cursor.keys.length !== sort.length) throw FhirError.badRequest('The _cursor does not belong to this _sort (use the links as given)');
  const terms: string[] = [];
  const eq: string[] = [];
  sort.forEach((k, i) => {
    const v = sql.p(cursor.keys[i], k.cast);
    const op = k.desc !== reverse ? '<' : '>';
    terms.push([...eq, `${k.expr} ${op} ${v}`].join(' AND '));
    eq.push(`${k.expr} = ${v}`);
  });
  terms.push([...eq, `${r}.rid ${ridDesc !== reverse ? '<' : '>'} ${sql.p(cursor.rid, 'bigint')}`].join(' AND '));
  return `(${terms.map((t) => `(${t})`).join(' OR ')})`;
}
