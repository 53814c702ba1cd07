import type { Db, Queryable, Tx } from '../database/db.js';
import type { Principal } from '../../fhir/pipeline/principal.js';
import type { AccessRestriction } from '../../fhir/search/search-engine.js';

/** `upload`: an NDJSON file a client posted for $import (a finished job of one file, with the same retention). */
export type BulkJobKind = 'export' | 'import' | 'upload';
export type BulkJobState = 'queued' | 'running' | 'completed' | 'failed';

/** Who started a job (the Principal as authenticated at kick-off): whom its files are served to, what it may read or write. */
export type JobPrincipal = Omit<Principal, 'address'> & { restriction?: AccessRestriction };

export interface BulkJob<Request = any, Checkpoint = any> {
  id: string;
  kind: BulkJobKind;
  state: BulkJobState;
  requestUrl: string;
  request: Request;
  clientId: string | null;
  principal: JobPrincipal;
  transactionTime: string;
  checkpoint: Checkpoint;
  processed: number;
  error: string | null;
  finishedAt: string | null;
}

export interface BulkOutput {
  fileName: string;
  kind: 'output' | 'error';
  ordinal: number;
  resourceType: string;
  count: number;
  bytes: number;
}

const COLUMNS = `id::text, kind, state, request_url, request, client_id, principal,
  (extract(epoch FROM transaction_time) * 1000)::float8 AS tt_ms, checkpoint, processed, error, finished_at`;

function toJob(r: any): BulkJob {
  return {
    id: r.id,
    kind: r.kind,
    state: r.state,
    requestUrl: r.request_url,
    request: r.request,
    clientId: r.client_id,
    principal: r.principal,
    transactionTime: new Date(r.tt_ms).toISOString(),
    checkpoint: r.checkpoint,
    processed: Number(r.processed),
    error: r.error,
    finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  };
}

/**
 * Whether this principal may see the job: the client that started it and, for a user's token, the same user (users
 * of one app share its client id). In development mode both are undefined on both sides.
 */
export function ownsJob(p: Pick<Principal, 'clientId' | 'userId'>, job: BulkJob): boolean {
  return (p.clientId ?? null) === job.clientId && (p.userId ?? null) === (job.principal.userId ?? null);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The `bulk_job` and `bulk_job_output` tables. A job is claimed by one process at a time through a lease
 * (`locked_by`, `locked_until`) taken with FOR UPDATE SKIP LOCKED; every checkpoint renews it, and only the holder
 * of the lease can write a checkpoint, so a process that lost its job (cancelled, or taken over after its lease
 * ran out) stops at its next batch.
 */
export class BulkJobStore {
  constructor(private readonly db: Db) {}

  async create(q: Queryable, job: { id: string; kind: BulkJobKind; requestUrl: string; request: unknown; principal: JobPrincipal; transactionTime: string }): Promise<void> {
    await q.query(
      `INSERT INTO bulk_job (id, kind, request_url, request, client_id, principal, transaction_time) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [job.id, job.kind, job.requestUrl, JSON.stringify(job.request), job.principal.clientId ?? null, JSON.stringify(job.principal), job.transactionTime],
    );
  }

  /** A job that is finished from the start: an upload, its one file already written. */
  async createFinished(q: Queryable, job: { id: string; kind: BulkJobKind; requestUrl: string; principal: JobPrincipal; retentionSeconds: number }, file: BulkOutput): Promise<void> {
    await q.query(
      `WITH j AS (INSERT INTO bulk_job (id, kind, state, request_url, request, client_id, principal, transaction_time, finished_at, expires_at)
                  VALUES ($1, $2, 'completed', $3, '{}', $4, $5, now(), now(), now() + make_interval(secs => $6)) RETURNING id)
       INSERT INTO bulk_job_output (job_id, file_name, kind, ordinal, resource_type, count, bytes) SELECT id, $7, $8, 1, $9, $10, $11 FROM j`,
      [job.id, job.kind, job.requestUrl, job.principal.clientId ?? null, JSON.stringify(job.principal), job.retentionSeconds, file.fileName, file.kind, file.resourceType, file.count, file.bytes],
    );
  }

  async get(id: string, kind: BulkJobKind): Promise<BulkJob | undefined> {
    if (!UUID.test(id)) return undefined;
    const res = await this.db.query(`SELECT ${COLUMNS} FROM bulk_job WHERE id = $1 AND kind = $2`, [id, kind]);
    return res.rows[0] ? toJob(res.rows[0]) : undefined;
  }

  async outputs(id: string): Promise<BulkOutput[]> {
    const res = await this.db.query(
      `SELECT file_name, kind, ordinal, resource_type, count, bytes FROM bulk_job_output WHERE job_id = $1 AND count > 0 ORDER BY resource_type, ordinal`,
      [id],
    );
    return res.rows.map((r: any) => ({ fileName: r.file_name, kind: r.kind, ordinal: r.ordinal, resourceType: r.resource_type, count: Number(r.count), bytes: Number(r.bytes) }));
  }

  async output(id: string, fileName: string): Promise<BulkOutput | undefined> {
    const res = await this.db.query(`SELECT file_name, kind, ordinal, resource_type, count, bytes FROM bulk_job_output WHERE job_id = $1 AND file_name = $2`, [id, fileName]);
    const r = res.rows[0];
    return r ? { fileName: r.file_name, kind: r.kind, ordinal: r.ordinal, resourceType: r.resource_type, count: Number(r.count), bytes: Number(r.bytes) } : undefined;
  }

  /** Takes the oldest job that is queued, or running under an expired lease (its process died or shut down). */
  async claim(workerId: string, leaseSeconds: number): Promise<BulkJob | undefined> {
    const res = await this.db.query(
      `UPDATE bulk_job SET state = 'running', locked_by = $1, locked_until = now() + make_interval(secs => $2), updated_at = now()
       WHERE id = (SELECT id FROM bulk_job WHERE state IN ('queued', 'running') AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING ${COLUMNS}`,
      [workerId, leaseSeconds],
    );
    return res.rows[0] ? toJob(res.rows[0]) : undefined;
  }

  /**
   * Records progress (and the files it touched) and renews the lease, in the caller's transaction: the whole
   * checkpoint, or with `key` only that entry of it (parallel streams of one job each own an entry). False when this
   * worker no longer holds the job: it was cancelled (deleted) or another process took it over.
   */
  async checkpoint(tx: Tx, id: string, workerId: string, leaseSeconds: number, checkpoint: unknown, processedDelta: number, files: BulkOutput[], key?: string): Promise<boolean> {
    const res = await tx.query(
      `UPDATE bulk_job SET checkpoint = CASE WHEN $6::text IS NULL THEN $3::jsonb ELSE jsonb_set(checkpoint, ARRAY[$6::text], $3::jsonb, true) END,
         processed = processed + $4, locked_until = now() + make_interval(secs => $5), updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
      [id, workerId, JSON.stringify(checkpoint), processedDelta, leaseSeconds, key ?? null],
    );
    if (res.rowCount === 0) return false;
    if (files.length) {
      await tx.query(
        `INSERT INTO bulk_job_output (job_id, file_name, kind, ordinal, resource_type, count, bytes)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[], $7::bigint[])
         ON CONFLICT (job_id, file_name) DO UPDATE SET count = excluded.count, bytes = excluded.bytes`,
        [id, files.map((f) => f.fileName), files.map((f) => f.kind), files.map((f) => f.ordinal), files.map((f) => f.resourceType), files.map((f) => f.count), files.map((f) => f.bytes)],
      );
    }
    return true;
  }

  /** Heartbeat: keeps the lease while a long batch runs (checkpoints renew it too). */
  async renew(id: string, workerId: string, leaseSeconds: number): Promise<void> {
    await this.db.query(`UPDATE bulk_job SET locked_until = now() + make_interval(secs => $3) WHERE id = $1 AND locked_by = $2 AND state = 'running'`, [id, workerId, leaseSeconds]);
  }

  /** Marks the job completed; `then` runs in the same transaction (the job's audit record commits with it). */
  async complete(id: string, workerId: string, retentionSeconds: number, then?: (tx: Tx) => Promise<void>): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const res = await tx.query(
        `UPDATE bulk_job SET state = 'completed', finished_at = now(), updated_at = now(), expires_at = now() + make_interval(secs => $3),
           locked_by = NULL, locked_until = NULL
         WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
        [id, workerId, retentionSeconds],
      );
      const done = (res.rowCount ?? 0) > 0;
      if (done && then) await then(tx);
      return done;
    });
  }

  async fail(id: string, workerId: string, error: string, retentionSeconds: number): Promise<void> {
    await this.db.query(
      `UPDATE bulk_job SET state = 'failed', error = $3, finished_at = now(), updated_at = now(), expires_at = now() + make_interval(secs => $4),
         locked_by = NULL, locked_until = NULL
       WHERE id = $1 AND locked_by = $2`,
      [id, workerId, error.slice(0, 2000), retentionSeconds],
    );
  }

  /** Gives a job back (orderly shutdown): another process, or this one after a restart, resumes it at once. */
  async release(id: string, workerId: string): Promise<void> {
    await this.db.query(`UPDATE bulk_job SET locked_until = NULL, locked_by = NULL WHERE id = $1 AND locked_by = $2 AND state = 'running'`, [id, workerId]);
  }

  /** Cancels (deletes) a job; its runner notices at its next checkpoint. */
  async delete(id: string): Promise<boolean> {
    const res = await this.db.query(`DELETE FROM bulk_job WHERE id = $1`, [id]);
    return (res.rowCount ?? 0) > 0;
  }

  /** Finished jobs whose retention is over (their files are to be deleted). */
  async expired(limit = 100): Promise<string[]> {
    const res = await this.db.query(`SELECT id::text FROM bulk_job WHERE expires_at < now() ORDER BY expires_at LIMIT $1`, [limit]);
    return res.rows.map((r: any) => r.id);
  }
}
