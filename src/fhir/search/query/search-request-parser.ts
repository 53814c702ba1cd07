import { FhirError, issue, type OutcomeIssue } from '../../operation-outcome.js';
import type { QueryParams } from '../../pipeline/interaction.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import { decodeCursor, type Cursor } from './cursor.js';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
const MAX_PARAMS = 100;

export interface IncludeSpec {
  sourceType: string;
  /** reference parameter code, or '*' for all of the source type's reference parameters */
  code: string;
  targetType?: string;
  iterate: boolean;
  reverse: boolean;
}

export interface SortKey {
  code: string;
  desc: boolean;
}

/** A search request split into filters and result controls, with what was ignored and why. */
export interface ParsedSearch {
  filters: [string, string][];
  count: number;
  sort: SortKey[];
  total?: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  includes: IncludeSpec[];
  types?: string[];
  cursor?: Cursor;
  /** parameters actually used, in order (for the self link) */
  used: [string, string][];
  issues: OutcomeIssue[];
}

/** Result parameters the door or other stages handle; accepted without effect on the search itself. */
const PASS_THROUGH = new Set(['_format', '_pretty']);

/**
 * Reads the control parameters (`_count`, `_sort`, `_include`, ...) and collects the filters. Problems are reported
 * as issues (or thrown when `strict`).
 */
export function parseSearchParams(params: QueryParams, registry: SearchParamRegistry, strict: boolean): ParsedSearch {
  const out: ParsedSearch = { filters: [], count: DEFAULT_COUNT, sort: [], includes: [], used: [], issues: [] };
  if (params.length > MAX_PARAMS) throw FhirError.badRequest(`Too many search parameters (more than ${MAX_PARAMS})`);
  const problem = (name: string, msg: string, code = 'invalid') => {
    if (strict) throw FhirError.badRequest(msg, code);
    out.issues.push(issue('warning', code, `${msg}; parameter ignored`, [name]));
  };
  for (const [name, value] of params) {
    if (name.length > 256) throw FhirError.badRequest('Search parameter name too long');
    try {
      if (name.includes('\u0000') || value.includes('\u0000')) throw FhirError.badRequest(`NUL characters are not allowed in search parameters`);
      switch (name) {
        case '_count': {
          if (!/^\d{1,7}$/.test(value)) throw FhirError.badRequest(`_count must be a non-negative integer, not '${value}'`);
          out.count = Math.min(Number(value), MAX_COUNT);
          out.used.push([name, String(out.count)]);
          continue;
        }
        case '_sort':
          out.sort = value.split(',').map((s) => {
            const desc = s.startsWith('-');
            const code = desc ? s.slice(1) : s;
            if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(code)) throw FhirError.badRequest(`Invalid _sort key '${s}'`);
            return { code, desc };
          });
          break;
        case '_total':
          if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw FhirError.badRequest(`_total must be none, estimate or accurate`);
          out.total = value;
          break;
        case '_summary':
          if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw FhirError.badRequest(`_summary must be true, text, data, count or false`);
          out.summary = value as ParsedSearch['summary'];
          break;
        case '_elements':
          out.elements = value.split(',').map((e) => e.trim()).filter(Boolean);
          for (const e of out.elements) if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/.test(e)) throw FhirError.badRequest(`Invalid _elements entry '${e}'`);
          break;
        case '_type':
          out.types = value.split(',').map((t) => t.trim());
          for (const t of out.types) if (!registry.isResourceType(t)) throw FhirError.badRequest(`Unknown resource type '${t}' in _type`);
          break;
        case '_cursor':
          out.cursor = decodeCursor(value);
          continue; // paging state, not part of the self link
        case '_contained':
        case '_containedType':
          if (value !== 'false' && value !== 'container') throw FhirError.badRequest(`${name}=${value} is not supported (contained resources are not searched separately)`, 'not-supported');
          break;
        case '_query':
          throw FhirError.badRequest(`${name} is not supported (no named queries are defined)`, 'not-supported');
        case '_filter':
          out.filters.push([name, value]);
          continue; // compiled with the other filters (FilterCompiler), added to `used` once it compiles
        default:
          if (name.startsWith('_include') || name.startsWith('_revinclude')) {
            out.includes.push(parseInclude(name, value, registry));
            break;
          }
          if (PASS_THROUGH.has(name)) continue;
          out.filters.push([name, value]);
          continue; // filters are added to `used` once they compile
      }
      out.used.push([name, value]);
    } catch (e) {
      if (!(e instanceof FhirError)) throw e;
      problem(name, e.message, e.outcome.issue[0]?.code);
    }
  }
  return out;
}

function parseInclude(name: string, value: string, registry: SearchParamRegistry): IncludeSpec {
  const m = /^_(include|revinclude)(?::(iterate|recurse))?$/.exec(name);
  if (!m) throw FhirError.badRequest(`Invalid parameter ${name} (expected _include, _include:iterate, _revinclude or _revinclude:iterate)`);
  const reverse = m[1] === 'revinclude';
  const iterate = !!m[2];
  if (value === '*') return { sourceType: '*', code: '*', iterate, reverse };
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) throw FhirError.badRequest(`Invalid ${name} value '${value}' (expected SourceType:parameter[:TargetType])`);
  const [sourceType, code, targetType] = parts;
  if (!registry.isResourceType(sourceType)) throw FhirError.badRequest(`Unknown resource type '${sourceType}' in ${name}`);
  if (targetType !== undefined && !registry.isResourceType(targetType)) throw FhirError.badRequest(`Unknown resource type '${targetType}' in ${name}`);
  if (code !== '*') {
    const def = registry.get(sourceType, code);
    if (!def || def.type !== 'reference') throw FhirError.badRequest(`'${code}' is not a reference parameter of ${sourceType} (in ${name})`);
  }
  return { sourceType, code, targetType, iterate, reverse };
}
