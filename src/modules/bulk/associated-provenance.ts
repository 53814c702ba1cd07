import type { Queryable, Tx } from '../database/db.js';
import type { SearchParamRegistry } from '../../fhir/search/params/search-param-registry.js';

/** `includeAssociatedData` values this hub supports (Bulk Data 2.0, CodeSystem include-associated-data). */
export const ASSOCIATED_DATA = ['LatestProvenanceResources', 'RelevantProvenanceResources'] as const;
export type AssociatedData = (typeof ASSOCIATED_DATA)[number];

/** Checkpoint key of the pass that writes the associated Provenance (after every type of the job). */
export const ASSOCIATED_PASS = '(associated Provenance)';

/**
 * The Provenance associated with what an export holds (`Provenance.target` is an exported resource): all of them
 * (RelevantProvenanceResources) or, per exported resource, the one recorded last (LatestProvenanceResources).
 * Each exported batch adds its Provenance to `bulk_job_associated` with one statement in the batch's checkpoint
 * transaction — the database does the matching (the search index's `Provenance.target` rows), nothing is held in
 * memory, and a batch written again after a restart adds nothing twice. After the job's types, `next` walks what was
 * gathered in rid order, leaving out what the job wrote as its own Provenance type. Matching uses the search index,
 * i.e. the Provenance as they are now; the content exported is their version as of the transaction time.
 */
export class AssociatedProvenance {
  private readonly targetPid: number;
  private readonly recordedPid: number;

  constructor(registry: SearchParamRegistry) {
    this.targetPid = registry.get('Provenance', 'target')!.pid;
    this.recordedPid = registry.get('Provenance', 'recorded')!.pid;
  }

  /** Gathers the Provenance of these exported resources (rids of one batch). */
  async gather(tx: Tx, jobId: string, kind: AssociatedData, rids: string[], transactionTime: string): Promise<void> {
    if (!rids.length) return;
    if (kind === 'RelevantProvenanceResources') {
      await tx.query({
        name: 'bulk_associated_relevant',
        text: `INSERT INTO bulk_job_associated (job_id, rid)
               SELECT DISTINCT $1::uuid, ref.rid FROM resource t
               JOIN sp_reference ref ON ref.pid = $2 AND ref.tid = t.id AND ref.rtype = t.resource_type
               WHERE t.rid = ANY($3::bigint[])
               ON CONFLICT DO NOTHING`,
        values: [jobId, this.targetPid, rids],
      });
      return;
    }
    // per exported resource, its Provenance recorded last among those that existed at the transaction time
    await tx.query({
      name: 'bulk_associated_latest',
      text: `INSERT INTO bulk_job_associated (job_id, rid)
             SELECT DISTINCT $1::uuid, latest.rid FROM (
               SELECT DISTINCT ON (t.rid) ref.rid FROM resource t
               JOIN sp_reference ref ON ref.pid = $2 AND ref.tid = t.id AND ref.rtype = t.resource_type
               LEFT JOIN sp_date d ON d.rid = ref.rid AND d.pid = $4
               WHERE t.rid = ANY($3::bigint[])
                 AND EXISTS (SELECT 1 FROM resource_version v WHERE v.rid = ref.rid AND v.last_updated <= $5 AND NOT v.deleted)
               ORDER BY t.rid, d.lo DESC NULLS LAST, ref.rid DESC) latest
             ON CONFLICT DO NOTHING`,
      values: [jobId, this.targetPid, rids, this.recordedPid, transactionTime],
    });
  }

  /** Provenance the job writes as a type of its own (rids of one batch): not written again as associated data. */
  async exportedAsType(tx: Tx, jobId: string, rids: string[]): Promise<void> {
    if (!rids.length) return;
    await tx.query({
      name: 'bulk_associated_exported',
      text: `INSERT INTO bulk_job_associated (job_id, rid, exported) SELECT $1::uuid, unnest($2::bigint[]), true
             ON CONFLICT (job_id, rid) DO UPDATE SET exported = true`,
      values: [jobId, rids],
    });
  }

  /** The next gathered Provenance (rid and id) after `afterRid`, not written as a type, at most `limit`. */
  async next(q: Queryable, jobId: string, afterRid: string, limit: number): Promise<{ rids: string[]; ids: string[]; lastRid: string; done: boolean }> {
    const res = await q.query({
      name: 'bulk_associated_next',
      text: `SELECT a.rid::text AS rid, r.id FROM bulk_job_associated a JOIN resource r ON r.rid = a.rid
             WHERE a.job_id = $1 AND a.rid > $2::bigint AND NOT a.exported ORDER BY a.rid LIMIT $3`,
      values: [jobId, afterRid, limit],
    });
    const rids = res.rows.map((r: any) => r.rid);
    return { rids, ids: res.rows.map((r: any) => r.id), lastRid: rids.length ? rids[rids.length - 1] : afterRid, done: rids.length < limit };
  }
}
