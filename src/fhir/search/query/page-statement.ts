import { FhirError } from '../../operation-outcome.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import type { Cursor } from './cursor.js';
import { pidIn } from './conditions/leaf-conditions.js';
import type { SortKey } from './search-request-parser.js';
import type { Scope, SqlParams } from './sql-params.js';

/** A sort key as SQL: never NULL (missing values get a sentinel that sorts them last), with its type for cursors. */
interface SortExpr {
  expr: string;
  desc: boolean;
  cast: 'text' | 'timestamptz' | 'numeric';
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
    const pidCond = pidIn(sql, 's', defs.map((d) => d.pid));
    const agg = desc ? 'max' : 'min';
    const sub = (table: string, col: string) => `(SELECT ${agg}(s.${col}) FROM ${table} s WHERE s.rid = ${r}.rid AND ${pidCond})`;
    switch (defs[0].type) {
      case 'date':
        return { expr: `COALESCE(${sub('sp_date', desc ? 'hi' : 'lo')}, '${desc ? '-infinity' : 'infinity'}'::timestamptz)`, desc, cast: 'timestamptz' as const };
      case 'number':
        return { expr: `COALESCE(${sub('sp_number', desc ? 'hi' : 'lo')}, '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, desc, cast: 'numeric' as const };
      case 'quantity':
        return { expr: `COALESCE(${sub('sp_quantity', desc ? 'hi' : 'lo')}, '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, desc, cast: 'numeric' as const };
      case 'string':
        return { expr: `COALESCE(${sub('sp_string', 'norm')}, ${desc ? `''` : TEXT_MAX})`, desc, cast: 'text' as const };
      case 'token':
        return { expr: `COALESCE(${sub('sp_token', 'code')}, ${desc ? `''` : TEXT_MAX})`, desc, cast: 'text' as const };
      case 'reference':
        return { expr: `COALESCE(${sub('sp_reference', 'tid')}, ${desc ? `''` : TEXT_MAX})`, desc, cast: 'text' as const };
      case 'uri':
        return { expr: `COALESCE(${sub('sp_uri', 'uri')}, ${desc ? `''` : TEXT_MAX})`, desc, cast: 'text' as const };
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
}

export const ESTIMATE_CAP = 10_000;

/**
 * One statement for a page: the matching rows in keyset order (only rid and sort keys, so content is read for the
 * page's rows only), joined to their content, plus the total when asked. A backwards page (`prev` cursor) is read in
 * reverse order; the caller flips it.
 */
export function pageStatement(sql: SqlParams, input: PageStatementInput): string {
  const r = input.scope.alias;
  const reverse = input.cursor?.dir === 'prev';
  const where = [...input.where];
  if (input.cursor) where.push(keysetCondition(sql, r, input.sort, input.cursor, reverse));
  const order = [...input.sort.map((k, i) => `k${i} ${k.desc !== reverse ? 'DESC' : 'ASC'}`), `rid ${reverse ? 'DESC' : 'ASC'}`];
  const keyCols = input.sort.map((k, i) => `${k.expr} AS k${i}`);
  const baseWhere = input.where.join(' AND ');
  let total = 'NULL::bigint';
  if (input.total === 'accurate') total = `(SELECT count(*) FROM resource ${r} WHERE ${baseWhere})`;
  else if (input.total === 'estimate') total = `(SELECT count(*) FROM (SELECT 1 FROM resource ${r} WHERE ${baseWhere} LIMIT ${ESTIMATE_CAP}) e)`;
  return `WITH page AS (
      SELECT ${r}.rid, ${r}.version_id${keyCols.length ? ', ' + keyCols.join(', ') : ''}
      FROM resource ${r} WHERE ${where.join(' AND ')}
      ORDER BY ${order.join(', ')} LIMIT ${sql.p(input.limit, 'int')})
    SELECT p.rid::text AS rid, v.content${input.sort.map((_, i) => `, p.k${i}::text AS k${i}`).join('')}, t.total::text AS total
    FROM (SELECT ${total} AS total) t
    LEFT JOIN (page p JOIN resource_version v ON v.rid = p.rid AND v.version_id = p.version_id) ON true
    ORDER BY ${order.map((o) => `p.${o}`).join(', ')}`;
}

/** Rows after (or, reversed, before) the cursor row in the sort order: (k0, k1, ..., rid) compared key by key. */
function keysetCondition(sql: SqlParams, r: string, sort: SortExpr[], cursor: Cursor, reverse: boolean): string {
  if (cursor.keys.length !== sort.length) throw FhirError.badRequest('The _cursor does not belong to this _sort (use the links as given)');
  const terms: string[] = [];
  const eq: string[] = [];
  sort.forEach((k, i) => {
    const v = sql.p(cursor.keys[i], k.cast);
    const op = k.desc !== reverse ? '<' : '>';
    terms.push([...eq, `${k.expr} ${op} ${v}`].join(' AND '));
    eq.push(`${k.expr} = ${v}`);
  });
  terms.push([...eq, `${r}.rid ${reverse ? '<' : '>'} ${sql.p(cursor.rid, 'bigint')}`].join(' AND '));
  return `(${terms.map((t) => `(${t})`).join(' OR ')})`;
}
