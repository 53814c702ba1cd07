import { ENTRY_COLUMNS } from './page-statement.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import type { IncludeSpec } from './search-request-parser.js';
import type { SqlParams } from './sql-params.js';

export const MAX_INCLUDED = 1000;
const MAX_ITERATE_DEPTH = 3;

interface IncludeArrays {
  pid: number[];
  target: string[];
  iterate: boolean[];
}

/** A row of the page the includes start from. */
export interface PageRow {
  rid: string;
  type: string;
  id: string;
}

/**
 * The one statement that fetches `_include` / `_revinclude` resources for a page. With `:iterate`, a recursive walk
 * over `sp_reference` starting at the page's rows: depth 0 → 1 applies every include; deeper levels only `:iterate`
 * ones. Without (the usual case), one level: the references of the page's rows (and the rows referring to them),
 * with no recursion and no lookup of the page's own rows (a third fewer buffers for `Encounter?…&_include=
 * Encounter:patient` at 1M). Returns undefined when there is nothing to include.
 */
export function includeStatement(
  sql: SqlParams,
  registry: SearchParamRegistry,
  specs: IncludeSpec[],
  pageTypes: string[],
  pageRows: PageRow[],
  /** the caller's access restriction as a condition on a `resource` alias (included resources must pass it too) */
  restrict?: (alias: string) => string,
): string | undefined {
  if (!pageRows.length) return undefined;
  const source: IncludeSource = {
    rids: sql.p(pageRows.map((r) => r.rid), 'bigint[]'),
    rows: `unnest(${sql.p(pageRows.map((r) => r.type), 'text[]')}, ${sql.p(pageRows.map((r) => r.id), 'text[]')}) AS p(resource_type, id)`,
  };
  const parts = includeCtes(sql, registry, specs, pageTypes, source, restrict);
  if (!parts) return undefined;
  return `WITH ${parts.recursive ? 'RECURSIVE ' : ''}${parts.ctes}
    SELECT f.rid::text AS rid, ${ENTRY_COLUMNS} FROM found f JOIN resource_version v ON v.rid = f.rid AND v.version_id = f.version_id
    ORDER BY f.rid`;
}

/**
 * Where the includes start: the page's rows given as values (`includeStatement`, a statement of its own) or read
 * from the page statement's own CTEs (the same statement as the page).
 */
export interface IncludeSource {
  /** the page's rids, an SQL expression of type bigint[] */
  rids: string;
  /** the page's rows as a FROM item `… AS p(resource_type, id)` (for `_revinclude`) */
  rows: string;
}

/**
 * The CTEs that find the included resources: the last is `found (rid, version_id)`, at most MAX_INCLUDED + 1 rows.
 * `recursive` when an `:iterate` needs WITH RECURSIVE. Undefined when there is nothing to include.
 */
export function includeCtes(
  sql: SqlParams,
  registry: SearchParamRegistry,
  specs: IncludeSpec[],
  pageTypes: string[],
  source: IncludeSource,
  restrict?: (alias: string) => string,
): { ctes: string; recursive: boolean } | undefined {
  if (!specs.length) return undefined;
  const fwd: IncludeArrays = { pid: [], target: [], iterate: [] };
  const rev: IncludeArrays = { pid: [], target: [], iterate: [] };
  const add = (a: IncludeArrays, pid: number, target: string, iterate: boolean) => {
    a.pid.push(pid);
    a.target.push(target);
    a.iterate.push(iterate);
  };
  const anyIterate = specs.some((s) => s.iterate);
  for (const s of specs) {
    const arr = s.reverse ? rev : fwd;
    // forward includes start from the page's types (and, iterating, from any type reached)
    const sources = s.sourceType === '*' ? (s.reverse || anyIterate ? registry.allResourceTypes() : pageTypes) : [s.sourceType];
    for (const type of sources) {
      const defs = s.code === '*' ? [...registry.forType(type).values()].filter((d) => d.type === 'reference' && d.evaluate) : [registry.get(type, s.code)!];
      for (const d of defs) add(arr, d.pid, s.targetType ?? '', s.iterate);
    }
  }
  if (!anyIterate) return { ctes: oneLevel(sql, fwd, rev, source, restrict), recursive: false };
  const parts: string[] = [];
  if (fwd.pid.length) {
    parts.push(`SELECT t.rid, t.resource_type, t.id FROM sp_reference x
        JOIN unnest(${sql.p(fwd.pid, 'int4[]')}, ${sql.p(fwd.target, 'text[]')}, ${sql.p(fwd.iterate, 'bool[]')}) AS f(pid, tt, it)
          ON x.pid = f.pid AND (f.tt = '' OR x.rtype = f.tt) AND (inc.depth = 0 OR f.it)
        JOIN resource t ON t.resource_type = x.rtype AND t.id = x.tid AND NOT t.deleted
        WHERE x.rid = inc.rid`);
  }
  if (rev.pid.length) {
    parts.push(`SELECT s.rid, s.resource_type, s.id FROM unnest(${sql.p(rev.pid, 'int4[]')}, ${sql.p(rev.target, 'text[]')}, ${sql.p(rev.iterate, 'bool[]')}) AS f(pid, tt, it)
        JOIN sp_reference x ON x.pid = f.pid AND x.tid = inc.id AND x.rtype = inc.resource_type AND (f.tt = '' OR inc.resource_type = f.tt)
        JOIN resource s ON s.rid = x.rid AND NOT s.deleted
        WHERE inc.depth = 0 OR f.it`);
  }
  const page = source.rids;
  const ctes = `inc(rid, resource_type, id, depth) AS (
      SELECT r.rid, r.resource_type, r.id, 0 FROM resource r WHERE r.rid = ANY(${page})
      UNION
      SELECT n.rid, n.resource_type, n.id, inc.depth + 1 FROM inc CROSS JOIN LATERAL (${parts.join('\n UNION ALL ')}) n
      WHERE inc.depth < ${sql.p(MAX_ITERATE_DEPTH, 'int')}),
    found AS (SELECT DISTINCT ri.rid, ri.version_id FROM inc JOIN resource ri ON ri.rid = inc.rid WHERE depth > 0 AND NOT (inc.rid = ANY(${page}))${restrict ? ` AND ${restrict('ri')}` : ''} LIMIT ${sql.p(MAX_INCLUDED + 1, 'int')})`;
  return { ctes, recursive: true };
}

/** Includes without `:iterate`: the resources the page's rows refer to, and those referring to them, in one pass. */
function oneLevel(sql: SqlParams, fwd: IncludeArrays, rev: IncludeArrays, source: IncludeSource, restrict?: (alias: string) => string): string {
  const rids = source.rids;
  const cols = (a: string) => `${a}.rid, ${a}.resource_type, ${a}.id, ${a}.version_id, ${a}.last_updated, ${a}.deleted`;
  const parts: string[] = [];
  if (fwd.pid.length) {
    parts.push(`SELECT ${cols('t')} FROM sp_reference x
        JOIN unnest(${sql.p(fwd.pid, 'int4[]')}, ${sql.p(fwd.target, 'text[]')}) AS f(pid, tt) ON x.pid = f.pid AND (f.tt = '' OR x.rtype = f.tt)
        JOIN resource t ON t.resource_type = x.rtype AND t.id = x.tid AND NOT t.deleted
        WHERE x.rid = ANY(${rids})`);
  }
  if (rev.pid.length) {
    parts.push(`SELECT ${cols('s')} FROM ${source.rows}
        JOIN unnest(${sql.p(rev.pid, 'int4[]')}, ${sql.p(rev.target, 'text[]')}) AS f(pid, tt) ON f.tt = '' OR p.resource_type = f.tt
        JOIN sp_reference x ON x.pid = f.pid AND x.tid = p.id AND x.rtype = p.resource_type
        JOIN resource s ON s.rid = x.rid AND NOT s.deleted`);
  }
  // the restriction's conditions are written on a `resource` alias: the found rows carry the columns they use
  return `found AS (SELECT DISTINCT ri.rid, ri.version_id FROM (${parts.join('\n UNION ALL ')}) ri
      WHERE NOT (ri.rid = ANY(${rids}))${restrict ? ` AND ${restrict('ri')}` : ''} LIMIT ${sql.p(MAX_INCLUDED + 1, 'int')})`;
}
