/**
 * A PostgreSQL array literal (`{"a",NULL,3}`) of one-dimensional values, to pass as a text parameter and cast
 * (`$1::text[]`, `$2::int4[]`). node-postgres writes the same literal for a JS array, but escapes every element with
 * two regular-expression replaces and builds it piece by piece: for the index rows of a transaction Bundle (tens of
 * thousands of values per statement) that was ~5 % of the hub's time during ingest and 8 % of what it allocated.
 *
 * Fast path: the JSON text of the array IS the array literal, bracket for brace, whenever JSON.stringify escaped
 * nothing but quotes and backslashes (PostgreSQL reads `\"` and `\\` inside a quoted element the same way): strings
 * are quoted, numbers bare, `null` is read as NULL. JSON escapes control characters (`\n`, `\u0001`) and lone
 * surrogates differently, and writes NaN/Infinity as null, so those arrays take the element-by-element path.
 *
 * Strings are always quoted (so '', 'NULL', commas, braces and spaces stay values), numbers are written bare,
 * null/undefined as NULL, Dates as ISO instants; anything else by its String().
 */
export function arrayLiteral(values: readonly unknown[]): string {
  if (values.every(plain)) {
    const json = JSON.stringify(values);
    if (!OTHER_ESCAPE.test(json)) return `{${json.slice(1, -1)}}`;
  }
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += Number.isFinite(v) ? String(v) : `"${v}"`;
    else out += quoted(typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : String(v));
  }
  return out + '}';
}

/** Values whose JSON is their array-literal element: strings, finite numbers, null. */
const plain = (v: unknown): boolean => typeof v === 'string' || v === null || (typeof v === 'number' && Number.isFinite(v));

/** A backslash that does not start `\"` or `\\`: JSON escaped a control character or a lone surrogate. */
const OTHER_ESCAPE = /\\[^"\\]/;

const SPECIAL = /["\\]/;

function quoted(s: string): string {
  return SPECIAL.test(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : `"${s}"`;
}
