import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Db, Queryable } from '../modules/database/db.js';
import type { MasterPatientIndex } from './master-patient-index.js';

const BATCH = 200;
const LEASE_SECONDS = 60;
const POLL_MS = 1000;

/**
 * Relink-all as a Postgres-backed background job (the pattern of the search module's $reindex jobs): a row in
 * `mpi_relink_job` any hub process may claim (FOR UPDATE SKIP LOCKED with a lease, so the job of a process that
 * died is taken up again), processed in batches of Patients in id order, each batch committed with the job's
 * progress. Every source Patient is matched again as if it had just been written; MANUAL links stand.
 */
export class RelinkJobs implements OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly mpi: MasterPatientIndex,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Queues a relink of every source Patient, or of the given ones only. */
  async enqueue(q: Queryable, patientIds?: string[]): Promise<string> {
    const ids = patientIds?.length ? patientIds : null;
    const res = await q.query(
      `INSERT INTO mpi_relink_job (patient_ids, total) SELECT $1::text[], count(*) FROM resource r WHERE resource_type = 'Patient' AND NOT deleted
         AND ($1::text[] IS NULL OR r.id = ANY($1::text[])) AND NOT EXISTS (SELECT 1 FROM mpi_golden g WHERE g.golden_id = r.id) RETURNING id::text`,
      [ids],
    );
    setImmediate(() => void this.tick());
    return res.rows[0].id;
  }

  async statusParameters(q: Queryable, id: string): Promise<any | undefined> {
    if (!/^\d{1,19}$/.test(id)) return undefined;
    const res = await q.query(`SELECT id::text, status, processed, total, error FROM mpi_relink_job WHERE id = $1`, [id]);
    const r = res.rows[0];
    if (!r) return undefined;
    const parameter: any[] = [
      { name: 'job', valueString: r.id },
      { name: 'status', valueCode: r.status },
      { name: 'processed', valueInteger: Number(r.processed) },
    ];
    if (r.total !== null) parameter.push({ name: 'total', valueInteger: Number(r.total) });
    if (r.error) parameter.push({ name: 'error', valueString: r.error });
    return { resourceType: 'Parameters', parameter };
  }

  /** Runs queued jobs until none is left (the CLI calls it directly). */
  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (let job = await this.claim(); job && !this.stopped; job = await this.claim()) await this.run(job);
    } catch {
      // the lease expires and the job is taken up again by a later tick
    } finally {
      this.running = false;
    }
  }

  private async claim(): Promise<{ id: string; after_id: string; patient_ids: string[] | null } | undefined> {
    const res = await this.db.query(
      `UPDATE mpi_relink_job SET status = 'running', locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id = (SELECT id FROM mpi_relink_job WHERE status IN ('queued', 'running') AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
       RETURNING id::text, after_id, patient_ids`,
      [LEASE_SECONDS],
    );
    return res.rows[0];
  }

  private async run(job: { id: string; after_id: string; patient_ids: string[] | null }): Promise<void> {
    await this.mpi.reloadRules(); // picks up parameters saved by `mpi estimate`
    let after = job.after_id;
    try {
      for (;;) {
        if (this.stopped) return;
        const done = await this.db.transaction(async (tx) => {
          await this.mpi.repo.lock(tx);
          const batch = await tx.query(
            `SELECT r.id, v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
             WHERE r.resource_type = 'Patient' AND NOT r.deleted AND r.id > $1 AND ($2::text[] IS NULL OR r.id = ANY($2::text[]))
               AND NOT EXISTS (SELECT 1 FROM mpi_golden g WHERE g.golden_id = r.id)
             ORDER BY r.id LIMIT ${BATCH}`,
            [after, job.patient_ids],
          );
          for (const row of batch.rows) await this.mpi.matchSource(tx, row.id, row.content);
          const last = batch.rows.length ? batch.rows[batch.rows.length - 1].id : after;
          const finished = batch.rows.length < BATCH;
          await tx.query(
            `UPDATE mpi_relink_job SET after_id = $2, processed = processed + $3, updated_at = now(),
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
        .query(`UPDATE mpi_relink_job SET status = 'failed', error = $2, updated_at = now() WHERE id = $1`, [job.id, String((e as Error)?.message ?? e).slice(0, 1000)])
        .catch(() => undefined);
    }
  }
}
