import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Db, Tx } from '../database/db.js';

const LEASE_SECONDS = 60;
const POLL_MS = 1000;

/** A claimed job: its id and the key after which its next batch starts, plus the table's own columns. */
export interface ClaimedJob {
  id: string;
  cursor: string;
}

/**
 * A Postgres-backed background job queue (used by `$reindex` and the MPI's relink-all): one row per job in a table
 * with `id, status, after-cursor, processed, locked_until, error, updated_at`, that any hub process may claim
 * (FOR UPDATE SKIP LOCKED with a lease, so the job of a process that died is taken up again). A job runs in
 * batches; each batch commits together with the job's progress, so a restart resumes where it stopped.
 * Subclasses name the table and the cursor column and process one batch.
 */
export abstract class LeasedBatchJobs<J extends ClaimedJob> implements OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;
  protected stopped = false;

  constructor(
    protected readonly db: Db,
    private readonly table: string,
    private readonly cursorColumn: string,
    /** further columns of the claimed row, as a SELECT list (e.g. `resource_types, max_rid::text`) */
    private readonly columns: string,
    protected readonly batchSize: number,
  ) {}

  /** Processes the batch after `cursor` inside `tx`: the key of its last item (cursor when empty) and its size. */
  protected abstract batch(tx: Tx, job: J, cursor: string): Promise<{ last: string; count: number }>;

  /** Called before a claimed job runs (e.g. to load current definitions). */
  protected async beforeRun(_job: J): Promise<void> {}

  /** Called at each tick before claiming. */
  protected async beforeClaim(): Promise<void> {}

  onModuleInit(): void | Promise<void> {
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Looks for work soon (after a job was queued). */
  protected kick(): void {
    setImmediate(() => void this.tick());
  }

  /** Runs queued jobs until none is left (the CLI and tests call it directly). */
  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      await this.beforeClaim();
      for (let job = await this.claim(); job && !this.stopped; job = await this.claim()) await this.run(job);
    } catch {
      // the lease expires and the job is taken up again by a later tick (possibly in another process)
    } finally {
      this.running = false;
    }
  }

  private async claim(): Promise<J | undefined> {
    const t = this.table;
    const res = await this.db.query(
      `UPDATE ${t} SET status = 'running', locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id = (SELECT id FROM ${t} WHERE status IN ('queued', 'running') AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING id::text, ${this.cursorColumn}::text AS cursor, ${this.columns}`,
      [LEASE_SECONDS],
    );
    return res.rows[0];
  }

  private async run(job: J): Promise<void> {
    await this.beforeRun(job);
    let cursor = job.cursor;
    try {
      for (;;) {
        if (this.stopped) return;
        const done = await this.db.transaction(async (tx) => {
          const { last, count } = await this.batch(tx, job, cursor);
          const finished = count < this.batchSize;
          await tx.query(
            `UPDATE ${this.table} SET ${this.cursorColumn} = $2, processed = processed + $3, updated_at = now(),
               locked_until = now() + make_interval(secs => $4), status = CASE WHEN $5 THEN 'done' ELSE status END
             WHERE id = $1`,
            [job.id, last, count, LEASE_SECONDS, finished],
          );
          cursor = last;
          return finished;
        });
        if (done) return;
      }
    } catch (e) {
      await this.db
        .query(`UPDATE ${this.table} SET status = 'failed', error = $2, updated_at = now() WHERE id = $1`, [job.id, String((e as Error)?.message ?? e).slice(0, 1000)])
        .catch(() => undefined);
    }
  }
}
