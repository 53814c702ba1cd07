import type { Queryable } from '../../../modules/database/db.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import { FilterCompiler } from './filter-compiler.js';
import { SqlParams, typeIn, type Scope } from './sql-params.js';
import type { Terminology } from './terminology.js';

/**
 * How a filter whose cost PostgreSQL misjudges should run: `walk` the scope's resources in page order and check
 * each (a correlated sub-plan; stops as soon as the page is full), or `gather` every match first and look those up.
 * Walking wins when matches are common and loses badly when they are rare (it passes over every resource of the
 * type); gathering is the reverse. A generic plan cannot know which case a value is, so for `_has` and full text
 * the engine asks PostgreSQL's own estimate for the actual values first (EXPLAIN, nothing executed: ~0.1–0.4 ms)
 * and compiles the matching form (FilterCompiler.has / fullText).
 *
 * Thresholds, measured at 1M resources (bench/search.js data, 5,173 Patients, ~30,000 DiagnosticReports):
 * - `_has`: walk when the estimated inner matches reach 1/12 of the targets. PostgreSQL's semi-join estimate is
 *   ~1/6 of the true matches: codes estimated at ≤ 187 (≤ 1,216 true) gathered in 6–21 ms and walked in
 *   220–440 ms; codes estimated at ≥ 527 (≥ 3,750 true) walked in 12–20 ms and gathered in 160–200 ms.
 * - full text: gather when at most 7,000 rows of `sp_text` (all types) are estimated to match (one primary-key
 *   lookup each: 2–5 ms, up to ~20 ms on a loaded machine). `DiagnosticReport?_content=` words from the bench:
 *   estimated 766 walked in 14–47 ms and gathered in 2–5 ms; `serum` (6,496) walked in 12–18 ms, gathered in
 *   5–20 ms; words estimated at 8,000 and more are common in DiagnosticReports too and walk in 0.2–0.8 ms.
 */
export type FilterPlan = 'walk' | 'gather';

/** The filters whose way of running is chosen per value (`_has`, `_content`, `_text`). */
export const isPlannedFilter = (name: string): boolean => name.startsWith('_has:') || name === '_content' || name === '_text';

/**
 * The plans chosen for recent filter values, so that a value searched again does not pay for the estimate again
 * (an EXPLAIN round trip and its planning: at 1M, `_content` under load, ~0.15 ms of PostgreSQL's CPU and ~0.1 ms
 * of the hub's per request; 0.5–1 ms of latency one at a time). A plan only decides how a search runs, never what
 * it finds, and the estimates it comes from move only when the statistics do (ANALYZE after 20 % more rows, see
 * StatisticsKeeper), so an entry is kept for a minute and the cache holds the most recent values only. Also keeps
 * the estimates behind `commonMatches` (numbers, under their own keys).
 */
export class FilterPlanCache {
  private readonly entries = new Map<string, { plan: FilterPlan | number; until: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly max = 5_000,
  ) {}

  get(key: string, now = Date.now()): FilterPlan | number | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e.plan;
  }

  set(key: string, plan: FilterPlan | number, now = Date.now()): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!); // the oldest
    this.entries.set(key, { plan, until: now + this.ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}

const HAS_WALK_FRACTION = 12;
const TEXT_GATHER_MAX = 7_000;

export async function planFilters(
  q: Queryable,
  registry: SearchParamRegistry,
  scope: Scope,
  input: { baseUrl: string; terminology: Terminology; filters: [string, string][]; forced?: FilterPlan; cache?: FilterPlanCache },
): Promise<Map<string, FilterPlan> | undefined> {
  const planned = input.filters.filter(([n]) => isPlannedFilter(n));
  if (!planned.length) return undefined;
  const plans = new Map<string, FilterPlan>();
  let targets: number | undefined;
  for (const [name, value] of planned) {
    const key = `${name}=${value}`;
    if (input.forced) {
      plans.set(key, input.forced);
      continue;
    }
    // the choice depends on the scope's types (the targets of a _has) and on the value
    const cacheKey = `${scope.types.join(',')}\u0000${key}`;
    const cached = input.cache?.get(cacheKey);
    if (typeof cached === 'string') {
      plans.set(key, cached);
      continue;
    }
    const sql = new SqlParams();
    const compiler = new FilterCompiler(registry, { sql, baseUrl: input.baseUrl, terminology: input.terminology });
    let statement: string;
    try {
      statement = name.startsWith('_has:') ? compiler.hasInnerStatement(name, value) : `SELECT 1 FROM sp_text t WHERE ${compiler.fullTextMatch('t', name, value)}`;
    } catch {
      continue; // reported by the compilation proper
    }
    const matches = await estimatedRows(q, statement, sql.values);
    let plan: FilterPlan;
    if (name.startsWith('_has:')) {
      targets ??= await estimatedTargets(q, scope, input.cache);
      plan = matches * HAS_WALK_FRACTION >= targets ? 'walk' : 'gather';
    } else {
      plan = matches <= TEXT_GATHER_MAX ? 'gather' : 'walk';
    }
    plans.set(key, plan);
    input.cache?.set(cacheKey, plan);
  }
  return plans;
}

/**
 * Whether PostgreSQL estimates that at least 1 in `fraction` of the scope's resources match `where` (conditions on
 * the scope's alias `r0`, with their bound values), kept like the filter plans. A page of common matches is found
 * by walking the resources in page order whatever the value; a rare one is not.
 */
export async function commonMatches(q: Queryable, scope: Scope, where: string[], values: unknown[], key: string, fraction: number, cache: FilterPlanCache | undefined): Promise<boolean> {
  const matches = await cachedEstimate(q, cache, `${scope.types.join(',')}\u0000matches\u0000${key}`, `SELECT 1 FROM resource ${scope.alias} WHERE ${where.join(' AND ')}`, values);
  return matches * fraction >= (await estimatedTargets(q, scope, cache));
}

/** PostgreSQL's estimate of the live resources of the scope's types (the targets a `_has` walks). */
function estimatedTargets(q: Queryable, scope: Scope, cache: FilterPlanCache | undefined): Promise<number> {
  return cachedEstimate(q, cache, `${scope.types.join(',')}\u0000targets`, `SELECT 1 FROM resource t WHERE ${typeIn('t.resource_type', scope.types)} AND NOT t.deleted`, []);
}

/** `estimatedRows`, kept in the cache under `key`. */
async function cachedEstimate(q: Queryable, cache: FilterPlanCache | undefined, key: string, text: string, values: unknown[]): Promise<number> {
  const cached = cache?.get(key);
  if (typeof cached === 'number') return cached;
  const n = await estimatedRows(q, text, values);
  cache?.set(key, n);
  return n;
}

/** PostgreSQL's estimate of the rows a query returns (its plan's top row count; nothing is executed). */
async function estimatedRows(q: Queryable, text: string, values: unknown[]): Promise<number> {
  const res = await q.query({ text: `EXPLAIN (FORMAT JSON) ${text}`, values });
  const plan = res.rows[0]?.['QUERY PLAN'];
  return Number((typeof plan === 'string' ? JSON.parse(plan) : plan)?.[0]?.Plan?.['Plan Rows'] ?? 0);
}
