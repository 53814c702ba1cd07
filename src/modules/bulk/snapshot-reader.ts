import type { Queryable } from '../database/db.js';
import type { AccessRestriction, SearchEngine } from '../../fhir/search/search-engine.js';

/** One batch of a type's resources as they were at the transaction time. */
export interface SnapshotBatch {
  /** JSON texts of the resources (deleted or not yet created at that time: left out) */
  json: string[];
  /** the rid of each of them (same order) */
  rids: string[];
  /** keyset position after this batch */
  lastRid: string;
  /** true when the type has nothing after this batch */
  done: boolean;
}

export interface SnapshotScope {
  resourceType: string;
  transactionTime: string;
  since?: string;
  /** `_typeFilter` queries (OR) of this type, evaluated by the search engine */
  filters?: string[];
  /** patients whose compartments are exported, and the principal's own restriction, combined */
  restriction?: AccessRestriction;
}

// Per resource of the page, the version that was current at the transaction time ($2): the newest version written
// by then (one backward step on the (rid, version_id) key, as the current version usually is); none when created
// later, a tombstone when deleted by then — both give a null json, as does a version older than _since ($5).
// A LATERAL LIMIT 1 keeps the plan a nested loop over the page whatever the planner estimates.
function asOf(page: string, since: boolean): string {
  return `WITH page AS (${page})
          SELECT p.rid::text AS rid, CASE WHEN NOT v.deleted ${since ? 'AND v.last_updated > $5' : ''} THEN v.content::text END AS json
          FROM page p LEFT JOIN LATERAL (
            SELECT x.content, x.deleted, x.last_updated FROM resource_version x WHERE x.rid = p.rid AND x.last_updated <= $2
            ORDER BY x.version_id DESC LIMIT 1) v ON true
          ORDER BY p.rid`;
}

/**
 * Reads a consistent snapshot of one resource type as of the job's transaction time, in rid order, one keyset
 * batch per statement, so memory holds one batch whatever the size of the database and a restart resumes from
 * the last rid. Unfiltered types are walked straight from `resource (resource_type, rid)`; with `_typeFilter` or a
 * patient cohort the search engine picks the rids (compiled SQL, access restriction included) and the versions
 * are then read as of the transaction time. The search index describes the current versions, so a filter or
 * compartment is judged on what a resource is now (a resource changed or deleted since the transaction time can be
 * judged differently from what it was then); the content exported is always the version as of that time.
 */
export class SnapshotReader {
  constructor(
    private readonly q: Queryable,
    private readonly search: SearchEngine,
  ) {}

  async next(scope: SnapshotScope, afterRid: string, limit: number): Promise<SnapshotBatch> {
    const since = !!scope.since;
    const tail = scope.since ? [scope.since] : [];
    if (!scope.filters?.length && !scope.restriction) {
      const res = await this.q.query({
        name: since ? 'bulk_snapshot_since' : 'bulk_snapshot',
        text: asOf(`SELECT rid FROM resource WHERE resource_type = $1 AND rid > $3::bigint ORDER BY rid LIMIT $4`, since),
        values: [scope.resourceType, scope.transactionTime, afterRid, limit, ...tail],
      });
      return batchOf(res.rows, afterRid, limit);
    }
    const rids = await this.search.scanRids(this.q, scope.resourceType, { filters: scope.filters, afterRid, limit, restriction: scope.restriction });
    if (!rids.length) return { json: [], rids: [], lastRid: afterRid, done: true };
    return { ...(await this.versionsOf(scope, rids)), lastRid: rids[rids.length - 1], done: rids.length < limit };
  }

  /** These resources of the type (chosen by the caller) as they were at the transaction time, in rid order. */
  async versionsOf(scope: Pick<SnapshotScope, 'resourceType' | 'transactionTime' | 'since'>, rids: string[]): Promise<Pick<SnapshotBatch, 'json' | 'rids'>> {
    if (!rids.length) return { json: [], rids: [] };
    const since = !!scope.since;
    const res = await this.q.query({
      name: since ? 'bulk_snapshot_rids_since' : 'bulk_snapshot_rids',
      text: asOf(`SELECT rid FROM resource WHERE resource_type = $1 AND rid = ANY($3::bigint[]) LIMIT $4`, since),
      values: [scope.resourceType, scope.transactionTime, rids, rids.length, ...(scope.since ? [scope.since] : [])],
    });
    return present(res.rows);
  }
}

function present(rows: any[]): Pick<SnapshotBatch, 'json' | 'rids'> {
  const json: string[] = [];
  const rids: string[] = [];
  for (const r of rows) {
    if (r.json === null) continue;
    json.push(r.json);
    rids.push(r.rid);
  }
  return { json, rids };
}

function batchOf(rows: any[], afterRid: string, limit: number): SnapshotBatch {
  return { ...present(rows), lastRid: rows.length ? rows[rows.length - 1].rid : afterRid, done: rows.length < limit };
}
