import { FhirError } from '../../operation-outcome.js';
import type { SearchParamType } from '../params/search-param-registry.js';

/**
 * The `_filter` parameter (FHIR search filter syntax, hl7.org/fhir/R4/search_filter.html): a boolean expression of
 * `param op value` comparisons with `and`, `or`, `not (...)` and parentheses. It is parsed here into a tree whose
 * leaves are ordinary search parameters (`name[:modifier]`, `[prefix]value`), so every comparison compiles through
 * the same conditions as the query-string form and the whole filter stays inside the one page statement.
 */
export type FilterNode =
  | { kind: 'and' | 'or'; items: FilterNode[] }
  | { kind: 'not'; item: FilterNode }
  | { kind: 'leaf'; path: string; op: string; value: string };

const MAX_LENGTH = 4_000;
const MAX_DEPTH = 16;
const OPS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le', 'ap', 'sa', 'eb', 'pr', 'po', 'ss', 'sb', 'in', 'ni', 're']);

interface Token {
  t: 'word' | 'string' | '(' | ')';
  v: string;
  at: number;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ t: c, v: c, at: i });
      i++;
    } else if (c === '"') {
      let v = '';
      const start = i++;
      for (;;) {
        if (i >= text.length) throw bad(`unterminated string starting at ${start + 1}`);
        const d = text[i++];
        if (d === '"') break;
        if (d === '\\') {
          const e = text[i++];
          if (e === undefined) throw bad(`unterminated string starting at ${start + 1}`);
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        } else v += d;
      }
      out.push({ t: 'string', v, at: start });
    } else {
      const start = i;
      while (i < text.length && !/[\s()"]/.test(text[i])) i++;
      out.push({ t: 'word', v: text.slice(start, i), at: start });
    }
  }
  return out;
}

const bad = (why: string) => FhirError.badRequest(`Invalid _filter: ${why}`);

/** Parses a `_filter` value; throws a 400 FhirError with the position of the problem. */
export function parseFilter(text: string): FilterNode {
  if (text.length > MAX_LENGTH) throw bad(`longer than ${MAX_LENGTH} characters`);
  const toks = tokenize(text);
  let p = 0;
  const peek = () => toks[p];
  const isWord = (w: string) => peek()?.t === 'word' && peek().v.toLowerCase() === w;
  const expr = (depth: number): FilterNode => {
    if (depth > MAX_DEPTH) throw bad(`nested deeper than ${MAX_DEPTH}`);
    const items = [conj(depth)];
    while (isWord('or')) {
      p++;
      items.push(conj(depth));
    }
    return items.length === 1 ? items[0] : { kind: 'or', items };
  };
  const conj = (depth: number): FilterNode => {
    const items = [unary(depth)];
    while (isWord('and')) {
      p++;
      items.push(unary(depth));
    }
    return items.length === 1 ? items[0] : { kind: 'and', items };
  };
  const unary = (depth: number): FilterNode => {
    const t = peek();
    if (!t) throw bad('expression ends too early');
    if (t.t === '(' || (isWord('not') && toks[p + 1]?.t === '(')) {
      const negate = t.t === 'word';
      if (negate) p++;
      p++; // (
      const inner = expr(depth + 1);
      if (peek()?.t !== ')') throw bad(`')' expected at ${(peek()?.at ?? text.length) + 1}`);
      p++;
      return negate ? { kind: 'not', item: inner } : inner;
    }
    if (t.t !== 'word') throw bad(`parameter name expected at ${t.at + 1}`);
    const path = t.v;
    if (!/^[A-Za-z_][A-Za-z0-9_-]*(:[A-Za-z][A-Za-z-]*)?(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(path)) throw bad(`'${path}' is not a parameter path (filters inside [ ] are not supported)`);
    p++;
    const o = peek();
    if (!o || o.t !== 'word' || !OPS.has(o.v.toLowerCase())) throw bad(`comparison operator expected after '${path}'${o ? ` at ${o.at + 1}` : ''}`);
    p++;
    const v = peek();
    if (!v || (v.t !== 'word' && v.t !== 'string')) throw bad(`value expected after '${path} ${o.v}'`);
    p++;
    return { kind: 'leaf', path, op: o.v.toLowerCase(), value: v.v };
  };
  const tree = expr(0);
  if (p < toks.length) throw bad(`unexpected '${toks[p].v}' at ${toks[p].at + 1}`);
  return tree;
}

/** Escapes a value for the query-string form, where `,` separates alternatives and `\` escapes. */
function escape(v: string): string {
  return v.replace(/[\\,$]/g, (c) => `\\${c}`);
}

/**
 * One comparison as a query-string parameter: `[name, value, negated]`. `negated` asks the caller to wrap the
 * condition in NOT (operators without a query-string modifier of their own, e.g. `ne` on strings).
 */
export function leafAsParameter(path: string, op: string, value: string, type: SearchParamType): [string, string, boolean] {
  const ordered = type === 'date' || type === 'number' || type === 'quantity';
  const v = escape(value);
  switch (op) {
    case 'eq':
      if (ordered) return [path, `eq${v}`, false];
      return [type === 'string' ? `${path}:exact` : path, v, false];
    case 'ne':
      if (ordered) return [path, `ne${v}`, false];
      return [type === 'string' ? `${path}:exact` : path, v, true];
    case 'gt':
    case 'lt':
    case 'ge':
    case 'le':
    case 'sa':
    case 'eb':
    case 'ap':
      if (!ordered) throw bad(`'${op}' compares ordered values; '${path}' is a ${type} parameter`);
      return [path, `${op}${v}`, false];
    case 'co':
      if (type !== 'string' && type !== 'uri') throw bad(`'co' needs a string parameter ('${path}' is ${type})`);
      return [`${path}:contains`, v, false];
    case 'sw':
      if (type !== 'string') throw bad(`'sw' needs a string parameter ('${path}' is ${type})`);
      return [path, v, false];
    case 'pr':
      if (value !== 'true' && value !== 'false') throw bad(`'pr' takes true or false`);
      return [`${path}:missing`, value === 'true' ? 'false' : 'true', false];
    case 'ss':
      return [`${path}:above`, v, false];
    case 'sb':
      return [`${path}:below`, v, false];
    case 'in':
      return [`${path}:in`, v, false];
    case 'ni':
      return [`${path}:not-in`, v, false];
    case 're':
      if (type !== 'reference') throw bad(`'re' needs a reference parameter ('${path}' is ${type})`);
      return [path, v, false];
    default:
      // ew (ends with) and po (overlaps) have no query-string counterpart yet
      throw FhirError.badRequest(`_filter operator '${op}' is not supported`, 'not-supported');
  }
}
