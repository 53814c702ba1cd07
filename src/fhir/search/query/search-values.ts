import { FhirError } from '../../operation-outcome.js';
import { dateRange } from '../values/date-range.js';

/** Search value syntax shared by every parameter type: escaping, OR lists, prefixes, precision. */

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** Longest accepted parameter value (values beyond it are rejected rather than searched). */
export const MAX_VALUE_LENGTH = 4096;

/** Splits on an unescaped separator (`,` for OR, `|` for token parts, `$` for composites). Keeps escapes. */
export function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Removes the search escapes `\,` `\$` `\|` `\\`. A lone backslash before anything else is kept as is. */
export function unescapeValue(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([,$|\\])/g, '$1');
}

/** `a,b\,c` → ['a', 'b,c'] (already unescaped unless `keepEscapes`, for values split again later). */
export function orValues(raw: string, keepEscapes = false): string[] {
  if (raw.length > MAX_VALUE_LENGTH) throw FhirError.badRequest(`Search value longer than ${MAX_VALUE_LENGTH} characters`);
  const parts = splitUnescaped(raw, ',');
  return keepEscapes ? parts : parts.map(unescapeValue);
}

/** `ge2020` → ['ge', '2020']; a value without a prefix is `eq`. */
export function splitPrefix(v: string): [Prefix, string] {
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[-+.\d])/.exec(v);
  return m ? [m[1] as Prefix, v.slice(2)] : ['eq', v];
}

export interface SearchDate {
  prefix: Prefix;
  lo: string;
  hi: string;
  loMs: number;
  hiMs: number;
}

export function parseDateValue(v: string, name: string): SearchDate {
  const [prefix, text] = splitPrefix(v);
  const r = dateRange(text);
  if (!r) throw FhirError.badRequest(`Invalid date '${v}' for parameter ${name} (expected e.g. 2020, 2020-05, 2020-05-17, 2020-05-17T10:00:00Z)`);
  return { prefix, lo: new Date(r.lo).toISOString(), hi: new Date(r.hi).toISOString(), loMs: r.lo, hiMs: r.hi };
}

export interface SearchNumber {
  prefix: Prefix;
  value: string;
  /** half a unit of the last significant digit: the implicit precision range is [value - half, value + half) */
  half: string;
}

const NUMBER_RE = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

export function parseNumberValue(v: string, name: string): SearchNumber {
  const [prefix, text] = splitPrefix(v);
  if (!NUMBER_RE.test(text) || text.length > 40) throw FhirError.badRequest(`Invalid number '${v}' for parameter ${name}`);
  return { prefix, value: normaliseNumber(text), half: halfUnit(text) };
}

function normaliseNumber(text: string): string {
  return text.startsWith('+') ? text.slice(1) : text;
}

/** 5 × 10^-(decimals+1) as numeric text: `100` → `5e-1`, `1.50` → `5e-3`, `1e2` → `5e1`. */
export function halfUnit(text: string): string {
  const m = /^[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text)!;
  const decimals = (m[2] ?? '').length - (m[3] ? Number(m[3]) : 0);
  return `5e${-(decimals + 1)}`;
}
