import type { Db, Queryable, Tx } from '../../../modules/database/db.js';
import { LeasedBatchJobs, type ClaimedJob } from '../../../modules/jobs/leased-batch-jobs.js';
import type { SearchParameterIndexer } from '../extract/search-parameter-indexer.js';
import { writeRows } from '../index/search-index-writer.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';

const BATCH = 500;
/** How often a process re-reads the stored SearchParameters (another process may have added one). */
const REFRESH_MS = 5000;

export interface ReindexJobStatus {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  resourceTypes: string[] | null;
  processed: number;
  total: number | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

interface ReindexJob extends ClaimedJob {
  resource_types: string[] | null;
  max_rid: string | null;
}

/**
 * `$reindex` as a background job in `search_reindex_job` (LeasedBatchJobs: claimed with a lease by any hub process,
 * resumed after a restart), processed in batches of rids up to the largest one when it was queued.
 * Also keeps this process's custom SearchParameters in step with the database.
 */
export class ReindexJobs extends LeasedBatchJobs<ReindexJob> {
  private lastRefresh = 0;
  private lastSeq = '';

  constructor(
    db: Db,
    private readonly registry: SearchParamRegistry,
    private readonly indexer: SearchParameterIndexer,
  ) {
    super(db, 'search_reindex_job', 'after_rid', 'resource_types, max_rid::text', BATCH);
  }

  override async onModuleInit(): Promise<void> {
    await this.refreshCustomParameters(true).catch(() => undefined);
    super.onModuleInit();
  }

  /** Queues a reindex of the given types (all when empty) and returns the job id. */
  async enqueue(q: Queryable, resourceTypes: string[] | undefined): Promise<string> {
    const res = await q.query(
      `INSERT INTO search_reindex_job (resource_types, max_rid, total)
       SELECT $1::text[], max(rid), count(*) FROM resource WHERE NOT deleted AND ($1::text[] IS NULL OR resource_type = ANY($1::text[]))
       RETURNING id::text`,
      [resourceTypes?.length ? resourceTypes : null],
    );
    this.kick();
    return res.rows[0].id;
  }

  async status(q: Queryable, id: string): Promise<ReindexJobStatus | undefined> {
    if (!/^\d{1,19}$/.test(id)) return undefined;
    const res = await q.query(
      `SELECT id::text, status, resource_types, processed, total, error, created_at, updated_at FROM search_reindex_job WHERE id = $1`,
      [id],
    );
    const r = res.rows[0];
    if (!r) return undefined;
    return {
      id: r.id,
      status: r.status,
      resourceTypes: r.resource_types,
      processed: Number(r.processed),
      total: r.total === null ? null : Number(r.total),
      error: r.error,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    };
  }

  protected override async beforeClaim(): Promise<void> {
    if (Date.now() - this.lastRefresh > REFRESH_MS) await this.refreshCustomParameters(false);
  }

  protected override beforeRun(): Promise<void> {
    return this.refreshCustomParameters(true);
  }

  protected override async batch(tx: Tx, job: ReindexJob, after: string): Promise<{ last: string; count: number }> {
    const batch = await tx.query(
      `SELECT r.rid::text AS rid, v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
       WHERE r.rid > $1 AND r.rid <= $2 AND NOT r.deleted AND ($3::text[] IS NULL OR r.resource_type = ANY($3::text[]))
       ORDER BY r.rid LIMIT ${BATCH}`,
      [after, job.max_rid ?? '0', job.resource_types],
    );
    for (const row of batch.rows) await writeRows(tx, row.rid, this.indexer.extract(row.content), true);
    return { last: batch.rows.length ? batch.rows[batch.rows.length - 1].rid : after, count: batch.rows.length };
  }

  /** Loads stored SearchParameter resources into the registry when they changed since the last look. */
  async refreshCustomParameters(force: boolean): Promise<void> {
    this.lastRefresh = Date.now();
    const head = await this.db.query(`SELECT coalesce(max(seq), 0)::text AS seq FROM resource_version WHERE resource_type = 'SearchParameter'`);
    const seq = head.rows[0].seq;
    if (!force && seq === this.lastSeq) return;
    this.lastSeq = seq;
    const res = await this.db.query(
      `SELECT r.id, v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
       WHERE r.resource_type = 'SearchParameter' AND NOT r.deleted`,
    );
    const seen = new Set<string>();
    for (const row of res.rows) {
      seen.add(row.id);
      this.registry.registerStored(row.id, row.content);
    }
    for (const id of this.registry.storedIds()) if (!seen.has(id)) this.registry.unregisterStored(id);
  }
}
