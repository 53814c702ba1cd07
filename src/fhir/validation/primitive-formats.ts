import { R4Definitions } from '../definitions/r4-definitions.js';

/**
 * Checks of one R4 primitive value (the JSON value, not its `_` extension sibling): JSON type, then the lexical
 * rules of the type. A check returns undefined when the value is valid, else the diagnostics text.
 *
 * The regular expressions come from the R4 StructureDefinitions themselves (the `regex` extension on each primitive's
 * `value` element), anchored. Where the regex is only an approximation of the rule stated in the R4 datatypes page,
 * the rule from the page is applied instead:
 *  - string / markdown: "SHALL NOT contain Unicode character points below 32, except for u0009, u0010 and u0013"
 *    (the regex `[ \r\n\t\S]+` would also reject legal spaces such as U+00A0), and at most 1 MB;
 *  - code: "no whitespace other than single spaces in the contents" (the regex allows any single whitespace);
 *  - base64Binary: groups of 4 characters with whitespace only between groups, scanned without the regex (which
 *    backtracks badly on long invalid input);
 *  - integer / positiveInt / unsignedInt / decimal: JSON numbers, so the lexical regex does not apply; the value
 *    space is checked instead (32-bit signed range, > 0, >= 0, finite).
 * Dates with a day must also be real calendar days (the regex lets 2021-02-31 through).
 * Every string type must contain non-whitespace content (an empty or blank value is no value at all: ele-1).
 */
export type PrimitiveCheck = (value: unknown) => string | undefined;

const MAX_STRING = 1024 * 1024;
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
const NON_BLANK = /\S/;
const BASE64_PLAIN = /^[A-Za-z0-9+/=]+$/;
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

const NUMBER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal']);
const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);

const cache = new Map<string, PrimitiveCheck>();

/** The check for an R4 primitive type code (`string`, `dateTime`, ...); unknown codes are checked as `string`. */
export function primitiveCheck(code: string): PrimitiveCheck {
  let check = cache.get(code);
  if (!check) {
    check = buildCheck(code);
    cache.set(code, check);
  }
  return check;
}

/** True for the R4 primitive type codes (lower-case first letter, defined as primitive-type in the R4 bundle). */
export function isPrimitiveType(code: string): boolean {
  return primitiveRegexes().has(code);
}

let regexes: Map<string, string | undefined> | undefined;

/** type code → regex source from the R4 primitive StructureDefinitions. */
function primitiveRegexes(): Map<string, string | undefined> {
  if (regexes) return regexes;
  regexes = new Map();
  for (const sd of R4Definitions.get().structureDefinitions.values()) {
    if (sd.kind !== 'primitive-type') continue;
    const value = sd.snapshot?.element?.find((e: any) => e.path === `${sd.type}.value`);
    const ext = value?.type?.[0]?.extension?.find((x: any) => x.url === 'http://hl7.org/fhir/StructureDefinition/regex');
    regexes.set(sd.type, ext?.valueString);
  }
  return regexes;
}

function buildCheck(code: string): PrimitiveCheck {
  if (code === 'boolean') return (v) => (typeof v === 'boolean' ? undefined : wrongJsonType('boolean', v));
  if (NUMBER_TYPES.has(code)) return numberCheck(code);
  if (code === 'string' || code === 'markdown' || code === 'xhtml') return textCheck(code);
  if (code === 'base64Binary') return base64Check;
  const source = code === 'code' ? '[^\\s]+( [^\\s]+)*' : primitiveRegexes().get(code);
  const regex = source ? new RegExp(`^(?:${source})$`) : undefined;
  const calendar = DATE_TYPES.has(code);
  return (v) => {
    if (typeof v !== 'string') return wrongJsonType('string', v);
    if (!NON_BLANK.test(v)) return blank(v);
    if (regex && !regex.test(v)) return `Invalid ${code} format: ${quote(v)}`;
    if (calendar && v.length >= 10 && !isCalendarDay(v)) return `Invalid ${code}: ${quote(v)} is not a calendar day`;
    return undefined;
  };
}

function numberCheck(code: string): PrimitiveCheck {
  const integer = code !== 'decimal';
  const min = code === 'positiveInt' ? 1 : code === 'unsignedInt' ? 0 : INT_MIN;
  return (v) => {
    if (typeof v !== 'number') return wrongJsonType('number', v);
    if (!Number.isFinite(v)) return `Invalid ${code}: not a finite number`;
    if (!integer) return undefined;
    if (!Number.isInteger(v)) return `Invalid ${code}: ${v} is not an integer`;
    if (v < min || v > INT_MAX) return `Invalid ${code}: ${v} is out of range (${min}..${INT_MAX})`;
    return undefined;
  };
}

function textCheck(code: string): PrimitiveCheck {
  return (v) => {
    if (typeof v !== 'string') return wrongJsonType('string', v);
    if (!NON_BLANK.test(v)) return blank(v);
    if (v.length > MAX_STRING) return `Invalid ${code}: longer than 1 MB`;
    if (code !== 'xhtml' && CONTROL_CHARS.test(v)) return `Invalid ${code}: contains control characters`;
    return undefined;
  };
}

/** R4 `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`: groups of 4, whitespace allowed only between groups. */
function base64Check(v: unknown): string | undefined {
  if (typeof v !== 'string') return wrongJsonType('string', v);
  if (v.length % 4 === 0 && BASE64_PLAIN.test(v)) return undefined;
  let count = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) {
      if (count % 4 !== 0) return 'Invalid base64Binary format';
    } else if (
      (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61
    ) {
      count++;
    } else {
      return 'Invalid base64Binary format';
    }
  }
  return count > 0 && count % 4 === 0 ? undefined : 'Invalid base64Binary format';
}

function isCalendarDay(v: string): boolean {
  const day = Number(v.slice(8, 10));
  if (day <= 28) return true;
  const year = Number(v.slice(0, 4));
  const month = Number(v.slice(5, 7));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

function wrongJsonType(expected: string, v: unknown): string {
  const found = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  return `Invalid JSON type: expected ${expected}, found ${found}`;
}

function blank(v: string): string {
  return v.length === 0 ? 'Invalid empty string' : 'String must contain non-whitespace content';
}

function quote(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
}
