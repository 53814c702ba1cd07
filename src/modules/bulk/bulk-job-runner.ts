import { randomUUID } from 'node:crypto';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Tx } from '../database/db.js';
import type { BulkConfig } from './bulk-config.js';
import { removeJobFiles } from './job-files.js';
import type { BulkJob, BulkJobStore } from './bulk-job-store.js';
import type { ExportJobExecutor, RunOutcome } from './export-job.js';

/** What runs one kind of job (export, import) once a process holds its lease. */
export interface JobExecutor {
  run(job: BulkJob, workerId: string, stopping: () => boolean): Promise<RunOutcome>;
  /** audit event and summary once the job is done (a completion's in the transaction that marks it completed) */
  finished?(job: BulkJob, state: 'completed' | 'failed', tx?: Tx): Promise<void>;
}

/**
 * Runs bulk jobs in this process: polls for claimable jobs (queued, or running under an expired lease — their
 * process died), runs up to `jobsPerProcess` at once, and deletes the files of jobs past their retention. On an
 * orderly shutdown it stops at the next batch and releases its leases, so a restarted (or another) process resumes
 * at once; after a crash, the lease runs out and the job is resumed the same way.
 */
export class BulkJobRunner implements OnModuleInit, BeforeApplicationShutdown {
  readonly workerId = randomUUID();
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private ticking = false;
  private readonly active = new Map<string, Promise<void>>();
  private lastSweep = 0;

  constructor(
    private readonly jobs: BulkJobStore,
    private readonly executors: Record<string, JobExecutor>,
    private readonly config: BulkConfig,
    private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), this.config.pollMs);
    this.timer.unref();
    setImmediate(() => void this.tick());
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.active.values()]);
  }

  /** Looks for work now (called after a kick-off, so a job starts without waiting for the next poll). */
  async tick(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      while (this.active.size < this.config.jobsPerProcess && !this.stopping) {
        const job = await this.jobs.claim(this.workerId, this.config.leaseSeconds);
        if (!job) break;
        const run = this.runJob(job).finally(() => {
          this.active.delete(job.id);
          setImmediate(() => void this.tick());
        });
        this.active.set(job.id, run);
      }
      if (Date.now() - this.lastSweep > 60_000 || this.config.retentionSeconds < 60) await this.sweep();
    } catch (err) {
      if (!this.stopping) this.log.warn({ err }, 'bulk job poll failed');
    } finally {
      this.ticking = false;
    }
  }

  private async runJob(job: BulkJob): Promise<void> {
    const executor = this.executors[job.kind];
    const heartbeat = setInterval(() => void this.jobs.renew(job.id, this.workerId, this.config.leaseSeconds).catch(() => undefined), (this.config.leaseSeconds * 1000) / 3);
    heartbeat.unref();
    try {
      const outcome = await executor.run(job, this.workerId, () => this.stopping);
      if (outcome === 'completed') {
        await this.jobs.complete(job.id, this.workerId, this.config.retentionSeconds, async (tx) => executor.finished?.(job, 'completed', tx));
      } else if (outcome === 'stopped') {
        await this.jobs.release(job.id, this.workerId);
      } else {
        // cancelled (the row is gone) or taken over by another process after our lease ran out
        const still = await this.jobs.get(job.id, job.kind);
        if (!still) await removeJobFiles(this.config.dir, job.id);
      }
    } catch (err) {
      if (this.stopping) {
        await this.jobs.release(job.id, this.workerId).catch(() => undefined);
        return;
      }
      // cancelled while a file was being written (its folder deleted under it): not a failure
      if (!(await this.jobs.get(job.id, job.kind).catch(() => job))) {
        await removeJobFiles(this.config.dir, job.id);
        return;
      }
      this.log.error({ err, job: job.id }, 'bulk job failed');
      await this.jobs.fail(job.id, this.workerId, String((err as Error)?.message ?? err), this.config.retentionSeconds).catch(() => undefined);
      await executor.finished?.(job, 'failed').catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Deletes finished jobs past their retention, files first. */
  private async sweep(): Promise<void> {
    this.lastSweep = Date.now();
    for (const id of await this.jobs.expired()) {
      await removeJobFiles(this.config.dir, id);
      await this.jobs.delete(id);
    }
  }
}
