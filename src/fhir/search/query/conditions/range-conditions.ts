import { FhirError } from '../../../operation-outcome.js';
import { canonicalQuantity, UCUM } from '../../values/ucum.js';
import { parseDateValue, parseNumberValue, splitUnescaped, unescapeValue, type Prefix, type SearchDate } from '../search-values.js';
import type { SqlParams } from '../sql-params.js';

/**
 * Ordered comparisons (date, number, quantity). A stored value is a range [lo, hi]; a search value is a range
 * too (its precision). Prefix semantics follow R4 3.1.1.5.6, with `ge`/`le` read as "reaches into".
 */

/** Date condition over range columns `lo`/`hi` (timestamptz) of alias x. */
export function dateCondition(sql: SqlParams, lo: string, hi: string, raw: string, name: string): string {
  const d = parseDateValue(raw, name);
  return rangeCompare(d.prefix, lo, hi, () => sql.p(d.lo, 'timestamptz'), () => sql.p(d.hi, 'timestamptz'), () => approxDate(sql, d));
}

/** `ap` on dates: 10% of the distance to now either side (at least a day), as the spec suggests. */
function approxDate(sql: SqlParams, d: SearchDate): [string, string] {
  const now = Date.now();
  const slack = Math.max(86_400_000, Math.abs(now - d.loMs) * 0.1);
  return [sql.p(new Date(d.loMs - slack).toISOString(), 'timestamptz'), sql.p(new Date(d.hiMs + slack).toISOString(), 'timestamptz')];
}

/**
 * The prefix comparison of stored [lo, hi] against search [a, b].
 * eq: within; ne: not within; gt/sa: above; lt/eb: below; ge/le: reaches; ap: overlaps the widened range.
 */
export function rangeCompare(prefix: Prefix, lo: string, hi: string, a: () => string, b: () => string, approx: () => [string, string]): string {
  // parameters are bound only when used: an unused one would leave PostgreSQL unable to infer its type
  switch (prefix) {
    case 'eq': {
      // lo <= b and hi >= a follow from lo <= hi; said explicitly, they give the planner a narrow range on one
      // column to estimate (and the index a tight start and end) instead of two open-ended ranges
      const [x, y] = [a(), b()];
      return `(${lo} >= ${x} AND ${lo} <= ${y} AND ${hi} <= ${y} AND ${hi} >= ${x})`;
    }
    case 'ne':
      return `NOT (${lo} >= ${a()} AND ${hi} <= ${b()})`;
    case 'gt':
      return `${hi} > ${b()}`;
    case 'lt':
      return `${lo} < ${a()}`;
    case 'ge':
      return `${hi} >= ${a()}`;
    case 'le':
      return `${lo} <= ${b()}`;
    case 'sa':
      return `${lo} > ${b()}`;
    case 'eb':
      return `${hi} < ${a()}`;
    case 'ap': {
      const [x, y] = approx();
      return `(${lo} <= ${y} AND ${hi} >= ${x})`;
    }
  }
}

/** Number condition over numeric columns lo/hi (a stored single value has lo = hi). */
export function numberCondition(sql: SqlParams, lo: string, hi: string, raw: string, name: string): string {
  const n = parseNumberValue(raw, name);
  return numericCompare(sql, n.prefix, lo, hi, n.value, n.half);
}

function numericCompare(sql: SqlParams, prefix: Prefix, lo: string, hi: string, value: string, half: string): string {
  const v = sql.p(value, 'numeric');
  const h = () => sql.p(half, 'numeric');
  switch (prefix) {
    case 'eq': {
      const hh = h();
      return `(${lo} >= ${v} - ${hh} AND ${lo} < ${v} + ${hh} AND ${hi} < ${v} + ${hh})`;
    }
    case 'ne': {
      const hh = h();
      return `NOT (${lo} >= ${v} - ${hh} AND ${hi} < ${v} + ${hh})`;
    }
    case 'gt':
    case 'sa':
      return `${hi} > ${v}`;
    case 'lt':
    case 'eb':
      return `${lo} < ${v}`;
    case 'ge':
      return `${hi} >= ${v}`;
    case 'le':
      return `${lo} <= ${v}`;
    case 'ap': {
      const hh = h();
      return `(${lo} <= ${v} + abs(${v}) * 0.1 + ${hh} AND ${hi} >= ${v} - abs(${v}) * 0.1 - ${hh})`;
    }
  }
}

/**
 * Quantity `[prefix]number|system|code`. With a UCUM unit that converts, the canonical columns are compared (so
 * 5 mg finds 0.005 g); otherwise the stored system/code (or unit) and value.
 */
export function quantityCondition(sql: SqlParams, x: string, raw: string, name: string, cols = QUANTITY_COLUMNS): string {
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 1 && parts.length !== 3) throw FhirError.badRequest(`Invalid quantity '${raw}' for parameter ${name} (expected [prefix]number|system|code)`);
  const n = parseNumberValue(unescapeValue(parts[0]), name);
  const system = parts.length === 3 ? unescapeValue(parts[1]) : '';
  const code = parts.length === 3 ? unescapeValue(parts[2]) : '';
  const lo = `COALESCE(${x}.${cols.lo}, '-Infinity'::numeric)`;
  const hi = `COALESCE(${x}.${cols.hi}, 'Infinity'::numeric)`;
  if (cols.clo && (system === UCUM || !system) && code) {
    const canon = canonicalQuantity(code, Number(n.value));
    if (canon) {
      const factor = canonicalQuantity(code, 1)!.value;
      const half = String(Number(n.half) * factor);
      const clo = `COALESCE(${x}.${cols.clo}, '-Infinity'::numeric)`;
      const chi = `COALESCE(${x}.${cols.chi}, 'Infinity'::numeric)`;
      const canonical = `(${x}.${cols.ccode} = ${sql.p(canon.code)} AND ${numericCompare(sql, n.prefix, clo, chi, String(canon.value), half)})`;
      // values stored without a UCUM code still match on their own unit
      const plain = `(${x}.${cols.ccode} IS NULL AND ${x}.${cols.code} = ${sql.p(code)} AND ${numericCompare(sql, n.prefix, lo, hi, n.value, n.half)})`;
      return `(${canonical} OR ${plain})`;
    }
  }
  const conds: string[] = [];
  if (system) conds.push(`${x}.${cols.sys} = ${sql.p(system)}`);
  if (code) conds.push(`${x}.${cols.code} = ${sql.p(code)}`);
  conds.push(numericCompare(sql, n.prefix, lo, hi, n.value, n.half));
  return `(${conds.join(' AND ')})`;
}

export interface QuantityColumns {
  sys: string;
  code: string;
  lo: string;
  hi: string;
  ccode?: string;
  clo?: string;
  chi?: string;
}

export const QUANTITY_COLUMNS: QuantityColumns = { sys: 'sys', code: 'code', lo: 'lo', hi: 'hi', ccode: 'ccode', clo: 'clo', chi: 'chi' };
