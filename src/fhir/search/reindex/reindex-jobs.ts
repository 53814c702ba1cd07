import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Db, Queryable } from '../../../modules/database/db.js';
import type { SearchParameterIndexer } from '../extract/search-parameter-indexer.js';
import { writeRows } from '../index/search-index-writer.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';

const BATCH = 500;
const LEASE_SECONDS = 60;
const POLL_MS = 1000;
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

/**
 * `$reindex` as a Postgres-backed background job: a row in `search_reindex_job` that any hub process may claim
 * (FOR UPDATE SKIP LOCKED with a lease, so a job whose process died is picked up again), processed in batches of
 * rids, each batch committed together with the job's progress, so a restart resumes where it stopped.
 * Also keeps this process's custom SearchParameters in step with the database.
 */
export class ReindexJobs implements OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;
  private lastRefresh = 0;
  private lastSeq = '';
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly registry: SearchParamRegistry,
    private readonly indexer: SearchParameterIndexer,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refreshCustomParameters(true).catch(() => undefined);
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Queues a reindex of the given types (all when empty) and returns the job id. */
  async enqueue(q: Queryable, resourceTypes: string[] | undefined): Promise<string> {
    const res = await q.query(
      `INSERT INTO search_reindex_job (resource_types, max_rid, total)
       SELECT $1::text[], max(rid), count(*) FROM resource WHERE NOT deleted AND ($1::text[] IS NULL OR resource_type = ANY($1::text[]))
       RETURNING id::text`,
      [resourceTypes?.length ? resourceTypes : null],
    );
    setImmediate(() => void this.tick());
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

  /** Runs queued jobs until none is left (also used by tests to wait for completion). */
  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      if (Date.now() - this.lastRefresh > REFRESH_MS) await this.refreshCustomParameters(false);
      for (let job = await this.claim(); job && !this.stopped; job = await this.claim()) await this.run(job);
    } catch {
      // the lease expires and the job is retried by the next tick (possibly in another process)
    } finally {
      this.running = false;
    }
  }

  private async claim(): Promise<any | undefined> {
    const res = await this.db.query(
      `UPDATE search_reindex_job SET status = 'running', locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id = (SELECT id FROM search_reindex_job WHERE status IN ('queued', 'running') AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING id::text, resource_types, after_rid::text, max_rid::text`,
      [LEASE_SECONDS],
    );
    return res.rows[0];
  }

  private async run(job: { id: string; resource_types: string[] | null; after_rid: string; max_rid: string | null }): Promise<void> {
    await this.refreshCustomParameters(true);
    let after = job.after_rid;
    try {
      for (;;) {
        if (this.stopped) return;
        const done = await this.db.transaction(async (tx) => {
          const batch = await tx.query(
            `SELECT r.rid::text AS rid, v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
             WHERE r.rid > $1 AND r.rid <= $2 AND NOT r.deleted AND ($3::text[] IS NULL OR r.resource_type = ANY($3::text[]))
             ORDER BY r.rid LIMIT ${BATCH}`,
            [after, job.max_rid ?? '0', job.resource_types],
          );
          for (const row of batch.rows) await writeRows(tx, row.rid, this.indexer.extract(row.content), true);
          const last = batch.rows.length ? batch.rows[batch.rows.length - 1].rid : after;
          const finished = batch.rows.length < BATCH;
          await tx.query(
            `UPDATE search_reindex_job SET after_rid = $2, processed = processed + $3, updated_at = now(),
               locked_until = now() + make_interval(secs => $4), status = CASE WHEN $5 THEN 'done' ELSE status END
             WHERE id = $1`,
            [job.id, last, batch.rows.length, LEASE_SECONDS, finished],
          );
          after = last;
          return finished;
        });
        if (done) return;
      }
    } catch (e) {
      await this.db
        .query(`UPDATE search_reindex_job SET status = 'failed', error = $2, updated_at = now() WHERE id = $1`, [job.id, String((e as Error)?.message ?? e).slice(0, 1000)])
        .catch(() => undefined);
    }
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
