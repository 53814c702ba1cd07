import { FhirError } from '../fhir/operation-outcome.js';
import type { QueryParams } from '../fhir/pipeline/interaction.js';
import type { Queryable } from '../modules/database/db.js';

/** Search parameters `GET /fhir/AuditEvent` supports (README: src/audit). */
export const AUDIT_SEARCH_PARAMS = [
  ['_id', 'token'],
  ['patient', 'reference'],
  ['agent', 'reference'],
  ['who', 'reference'],
  ['entity', 'reference'],
  ['date', 'date'],
  ['type', 'token'],
  ['subtype', 'token'],
  ['action', 'token'],
  ['outcome', 'token'],
  ['request-id', 'string'],
] as const;

const RESULT_PARAMS = new Set(['_count', '_cursor', '_sort', '_total', '_format', '_pretty']);

export interface AuditQuery {
  where: string[];
  values: unknown[];
  ascending: boolean;
  count: number;
  cursor?: string;
  total: boolean;
}

class Sql {
  values: unknown[] = [];
  p(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

function reference(value: string, defaultType?: string): string {
  const v = value.split('/_history/')[0];
  const m = /^https?:\/\/.*?\/fhir\/(.*)$/.exec(v);
  const rel = m ? m[1] : v;
  return rel.includes('/') || !defaultType ? rel : `${defaultType}/${rel}`;
}

function tokenCode(value: string): string {
  const bar = value.indexOf('|');
  return bar < 0 ? value : value.slice(bar + 1);
}

const DATE_PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb)?(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?)$/;

/** [start, end) of a (partial) FHIR date/dateTime. */
function dateRange(v: string): [string, string] {
  const start = new Date(v.length === 4 ? `${v}-01-01T00:00:00Z` : v.length === 7 ? `${v}-01T00:00:00Z` : v.length === 10 ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(start.getTime())) throw FhirError.badRequest(`Invalid date "${v}"`);
  const end = new Date(start);
  if (v.length === 4) end.setUTCFullYear(end.getUTCFullYear() + 1);
  else if (v.length === 7) end.setUTCMonth(end.getUTCMonth() + 1);
  else if (v.length === 10) end.setUTCDate(end.getUTCDate() + 1);
  else end.setTime(end.getTime() + (/\.\d+/.test(v) ? 1 : /T\d{2}:\d{2}:\d{2}/.test(v) ? 1000 : 60_000));
  return [start.toISOString(), end.toISOString()];
}

/** Compiles AuditEvent search parameters into SQL over `audit_event` (AND across parameters, OR across commas). */
export function compileAuditSearch(params: QueryParams, opts: { defaultCount: number; maxCount: number; strict: boolean; patient?: string }): AuditQuery {
  const sql = new Sql();
  const where: string[] = [];
  let ascending = false;
  let count = opts.defaultCount;
  let cursor: string | undefined;
  let total = false;
  if (opts.patient) where.push(`patients @> ARRAY[${sql.p(`Patient/${opts.patient}`)}]::text[]`);
  for (const [rawName, value] of params) {
    const [name, modifier] = rawName.split(':', 2);
    if (RESULT_PARAMS.has(name)) {
      if (name === '_count') {
        count = Number(value);
        if (!Number.isInteger(count) || count < 0) throw FhirError.badRequest(`_count must be a non-negative integer, got "${value}"`);
        count = Math.min(count, opts.maxCount);
      } else if (name === '_cursor') {
        if (!/^\d{1,19}$/.test(value)) throw FhirError.badRequest('Malformed _cursor');
        cursor = value;
      } else if (name === '_sort') {
        if (value === 'date' || value === '_lastUpdated') ascending = true;
        else if (value === '-date' || value === '-_lastUpdated') ascending = false;
        else throw FhirError.badRequest(`AuditEvent search sorts by date or -date only, not "${value}"`);
      } else if (name === '_total') total = value === 'accurate' || value === 'estimate';
      continue;
    }
    if (modifier && modifier !== 'missing' && !(modifier === 'identifier' && (name === 'agent' || name === 'who'))) {
      throw FhirError.badRequest(`Modifier :${modifier} is not supported on AuditEvent.${name}`);
    }
    const values = value.split(',').filter((v) => v !== '');
    if (!values.length) continue;
    switch (name) {
      case '_id':
        where.push(`id = ANY(${sql.p(values)}::text[])`);
        break;
      case 'patient':
        where.push(`patients && ${sql.p(values.map((v) => reference(v, 'Patient')))}::text[]`);
        break;
      case 'agent':
      case 'who':
        where.push(`agents && ${sql.p(values.map((v) => (modifier === 'identifier' ? tokenCode(v) : reference(v))))}::text[]`);
        break;
      case 'entity': {
        // a patient entity is indexed in `patients` only (audit-record.ts), older records have it in both
        const refs = sql.p(values.map((v) => reference(v)));
        where.push(`(entities && ${refs}::text[] OR patients && ${refs}::text[])`);
        break;
      }
      case 'request-id':
        where.push(`request_id = ANY(${sql.p(values)}::text[])`);
        break;
      case 'date': {
        const ors = values.map((v) => {
          const m = DATE_PREFIX.exec(v);
          if (!m) throw FhirError.badRequest(`Invalid date parameter "${v}"`);
          const [start, end] = dateRange(m[2]);
          switch (m[1] ?? 'eq') {
            case 'eq':
              return `(recorded >= ${sql.p(start)} AND recorded < ${sql.p(end)})`;
            case 'ne':
              return `(recorded < ${sql.p(start)} OR recorded >= ${sql.p(end)})`;
            case 'gt':
            case 'sa':
              return `recorded >= ${sql.p(end)}`;
            case 'ge':
              return `recorded >= ${sql.p(start)}`;
            case 'lt':
            case 'eb':
              return `recorded < ${sql.p(start)}`;
            default:
              return `recorded < ${sql.p(end)}`;
          }
        });
        where.push(`(${ors.join(' OR ')})`);
        break;
      }
      // not indexed: evaluated on the (hashed) event itself, its tokens expanded (record-dictionary.ts)
      case 'type':
        where.push(`(audit_event_json(content) -> 'type' ->> 'code') = ANY(${sql.p(values.map(tokenCode))}::text[])`);
        break;
      case 'subtype':
        where.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(audit_event_json(content) -> 'subtype') s WHERE s ->> 'code' = ANY(${sql.p(values.map(tokenCode))}::text[]))`);
        break;
      case 'action':
        where.push(`(audit_event_json(content) ->> 'action') = ANY(${sql.p(values.map(tokenCode))}::text[])`);
        break;
      case 'outcome':
        where.push(`(audit_event_json(content) ->> 'outcome') = ANY(${sql.p(values.map(tokenCode))}::text[])`);
        break;
      default:
        if (opts.strict) throw FhirError.badRequest(`Unknown or unsupported AuditEvent search parameter "${rawName}"`);
    }
  }
  return { where, values: sql.values, ascending, count, cursor, total };
}

/** Runs a compiled search: one page of rows (seq, content) in keyset order, one more to know there is a next page. */
export async function runAuditSearch(q: Queryable, query: AuditQuery): Promise<{ rows: { seq: string; id: string; content: string }[]; more: boolean; total?: number }> {
  const where = [...query.where];
  const values = [...query.values];
  if (query.cursor) {
    values.push(query.cursor);
    where.push(`seq ${query.ascending ? '>' : '<'} $${values.length}`);
  }
  values.push(query.count + 1);
  const res = await q.query(
    `SELECT seq::text AS seq, id, content FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY audit_event.seq ${query.ascending ? 'ASC' : 'DESC'} LIMIT $${values.length}`,
    values,
  );
  const rows = res.rows;
  const more = rows.length > query.count;
  if (more) rows.pop();
  let total: number | undefined;
  if (query.total) {
    const t = await q.query(`SELECT count(*)::int AS n FROM audit_event ${query.where.length ? `WHERE ${query.where.join(' AND ')}` : ''}`, query.values);
    total = t.rows[0].n;
  }
  return { rows, more, total };
}
