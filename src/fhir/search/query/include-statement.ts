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
 * The one statement that fetches `_include` / `_revinclude` resources for a page: a recursive walk over
 * `sp_reference` starting at the page's rows. Depth 0 → 1 applies every include; deeper levels only `:iterate` ones.
 * Returns undefined when there is nothing to include.
 */
export function includeStatement(
  sql: SqlParams,
  registry: SearchParamRegistry,
  specs: IncludeSpec[],
  pageTypes: string[],
  pageRids: string[],
  /** the caller's access restriction as a condition on a `resource` alias (included resources must pass it too) */
  restrict?: (alias: string) => string,
): string | undefined {
  if (!specs.length || !pageRids.length) return undefined;
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
  const page = sql.p(pageRids, 'bigint[]');
  const depth = anyIterate ? MAX_ITERATE_DEPTH : 1;
  return `WITH RECURSIVE inc(rid, resource_type, id, depth) AS (
      SELECT r.rid, r.resource_type, r.id, 0 FROM resource r WHERE r.rid = ANY(${page})
      UNION
      SELECT n.rid, n.resource_type, n.id, inc.depth + 1 FROM inc CROSS JOIN LATERAL (${parts.join('\n UNION ALL ')}) n
      WHERE inc.depth < ${sql.p(depth, 'int')}),
    found AS (SELECT DISTINCT inc.rid FROM inc ${restrict ? 'JOIN resource ri ON ri.rid = inc.rid ' : ''}WHERE depth > 0 AND NOT (inc.rid = ANY(${page}))${restrict ? ` AND ${restrict('ri')}` : ''} LIMIT ${sql.p(MAX_INCLUDED + 1, 'int')})
    SELECT f.rid::text AS rid, v.content FROM found f
    JOIN resource r ON r.rid = f.rid JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
    ORDER BY f.rid`;
}
