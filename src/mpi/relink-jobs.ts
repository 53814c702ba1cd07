import type { Db, Queryable, Tx } from '../modules/database/db.js';
import { LeasedBatchJobs, type ClaimedJob } from '../modules/jobs/leased-batch-jobs.js';
import type { MasterPatientIndex } from './master-patient-index.js';

const BATCH = 200;

interface RelinkJob extends ClaimedJob {
  patient_ids: string[] | null;
}

/**
 * Relink-all as a background job in `mpi_relink_job` (LeasedBatchJobs: claimed with a lease by any hub process,
 * resumed after a restart), processed in batches of Patients in id order, each batch committed with the job's
 * progress. Every source Patient is matched again as if it had just been written; MANUAL links stand.
 */
export class RelinkJobs extends LeasedBatchJobs<RelinkJob> {
  constructor(
    db: Db,
    private readonly mpi: MasterPatientIndex,
  ) {
    super(db, 'mpi_relink_job', 'after_id', 'patient_ids', BATCH);
  }

  /** Queues a relink of every source Patient, or of the given ones only. */
  async enqueue(q: Queryable, patientIds?: string[]): Promise<string> {
    const ids = patientIds?.length ? patientIds : null;
    const res = await q.query(
      `INSERT INTO mpi_relink_job (patient_ids, total) SELECT $1::text[], count(*) FROM resource r WHERE resource_type = 'Patient' AND NOT deleted
         AND ($1::text[] IS NULL OR r.id = ANY($1::text[])) AND NOT EXISTS (SELECT 1 FROM mpi_golden g WHERE g.golden_id = r.id) RETURNING id::text`,
      [ids],
    );
    this.kick();
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

  protected override beforeRun(): Promise<void> {
    return this.mpi.reloadRules(); // picks up parameters saved by `mpi estimate`
  }

  protected override async batch(tx: Tx, job: RelinkJob, after: string): Promise<{ last: string; count: number }> {
    await this.mpi.repo.lock(tx);
    const batch = await tx.query(
      `SELECT r.id, v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
       WHERE r.resource_type = 'Patient' AND NOT r.deleted AND r.id > $1 AND ($2::text[] IS NULL OR r.id = ANY($2::text[]))
         AND NOT EXISTS (SELECT 1 FROM mpi_golden g WHERE g.golden_id = r.id)
       ORDER BY r.id LIMIT ${BATCH}`,
      [after, job.patient_ids],
    );
    for (const row of batch.rows) await this.mpi.matchSource(tx, row.id, row.content);
    return { last: batch.rows.length ? batch.rows[batch.rows.length - 1].id : after, count: batch.rows.length };
  }
}
