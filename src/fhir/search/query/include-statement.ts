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

/**
 * Where the includes start: the page's rows, in `pg` — the CTE the page statement defines next to them (its page
 * without the row read ahead). Their rids as an array, and their rows as a FROM item (for `_revinclude`).
 */
const PAGE_RIDS = 'ARRAY(SELECT rid FROM pg)';
const PAGE_ROWS = `(SELECT r.resource_type, r.id FROM resource r WHERE r.rid = ANY(${PAGE_RIDS})) AS p`;

/**
 * The CTEs that find `_include` / `_revinclude` resources for a page; the page statement appends them (one statement
 * per search). With `:iterate`, a recursive walk over `sp_reference` starting at the page's rows: depth 0 → 1 applies
 * every include; deeper levels only `:iterate` ones (`recursive`: the statement needs WITH RECURSIVE). Without (the
 * usual case), one level: the references of the page's rows (and the rows referring to them), with no recursion and
 * no lookup of the page's own rows (a third fewer buffers for `Encounter?…&_include=Encounter:patient` at 1M). The
 * last CTE is `found (rid, version_id)`, at most MAX_INCLUDED + 1 rows. Undefined when there is nothing to include.
 */
export function includeCtes(
  sql: SqlParams,
  registry: SearchParamRegistry,
  specs: IncludeSpec[],
  pageTypes: string[],
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
  if (!anyIterate) return { ctes: oneLevel(sql, fwd, rev, restrict), recursive: false };
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
  const ctes = `inc(rid, resource_type, id, depth) AS (
      SELECT r.rid, r.resource_type, r.id, 0 FROM resource r WHERE r.rid = ANY(${PAGE_RIDS})
      UNION
      SELECT n.rid, n.resource_type, n.id, inc.depth + 1 FROM inc CROSS JOIN LATERAL (${parts.join('\n UNION ALL ')}) n
      WHERE inc.depth < ${sql.p(MAX_ITERATE_DEPTH, 'int')}),
    found AS (SELECT DISTINCT ri.rid, ri.version_id FROM inc JOIN resource ri ON ri.rid = inc.rid WHERE depth > 0 AND NOT (inc.rid = ANY(${PAGE_RIDS}))${restrict ? ` AND ${restrict('ri')}` : ''} LIMIT ${MAX_INCLUDED + 1})`;
  return { ctes, recursive: true };
}

/** Includes without `:iterate`: the resources the page's rows refer to, and those referring to them, in one pass. */
function oneLevel(sql: SqlParams, fwd: IncludeArrays, rev: IncludeArrays, restrict?: (alias: string) => string): string {
  const cols = (a: string) => `${a}.rid, ${a}.resource_type, ${a}.id, ${a}.version_id, ${a}.last_updated, ${a}.deleted`;
  const parts: string[] = [];
  if (fwd.pid.length) {
    parts.push(`SELECT ${cols('t')} FROM sp_reference x
        JOIN unnest(${sql.p(fwd.pid, 'int4[]')}, ${sql.p(fwd.target, 'text[]')}) AS f(pid, tt) ON x.pid = f.pid AND (f.tt = '' OR x.rtype = f.tt)
        JOIN resource t ON t.resource_type = x.rtype AND t.id = x.tid AND NOT t.deleted
        WHERE x.rid = ANY(${PAGE_RIDS})`);
  }
  if (rev.pid.length) {
    parts.push(`SELECT ${cols('s')} FROM ${PAGE_ROWS}
        JOIN unnest(${sql.p(rev.pid, 'int4[]')}, ${sql.p(rev.target, 'text[]')}) AS f(pid, tt) ON f.tt = '' OR p.resource_type = f.tt
        JOIN sp_reference x ON x.pid = f.pid AND x.tid = p.id AND x.rtype = p.resource_type
        JOIN resource s ON s.rid = x.rid AND NOT s.deleted`);
  }
  // the restriction's conditions are written on a `resource` alias: the found rows carry the columns they use
  return `found AS (SELECT DISTINCT ri.rid, ri.version_id FROM (${parts.join('\n UNION ALL ')}) ri
      WHERE NOT (ri.rid = ANY(${PAGE_RIDS}))${restrict ? ` AND ${restrict('ri')}` : ''} LIMIT ${MAX_INCLUDED + 1})`;
}
