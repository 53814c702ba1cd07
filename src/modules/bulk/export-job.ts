import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Db, Tx } from '../database/db.js';
import type { AccessRestriction, SearchEngine } from '../../fhir/search/search-engine.js';
import { project } from '../../fhir/search/query/projection.js';
import { ASSOCIATED_PASS, type AssociatedProvenance } from './associated-provenance.js';
import type { BulkAudit } from './bulk-audit.js';
import type { BulkConfig } from './bulk-config.js';
import type { BulkJob, BulkJobStore } from './bulk-job-store.js';
import type { ExportRequest } from './export-request.js';
import { NdjsonPartWriter, type PartState } from './ndjson-part-writer.js';
import { SnapshotReader, type SnapshotBatch } from './snapshot-reader.js';

/** Where the export of one type stands: the last rid written and the file being written, or done. */
export interface TypeProgress {
  afterRid: string;
  part: PartState;
  done?: boolean;
}

/** Per resource type, and the associated Provenance under ASSOCIATED_PASS (absent: not started). */
export type ExportCheckpoint = Record<string, TypeProgress>;

const NOT_STARTED: TypeProgress = { afterRid: '0', part: { part: 1, bytes: 0, count: 0 } };

export type RunOutcome = 'completed' | 'stopped' | 'lost';

/**
 * What an export may hold: the cohort of the request (Group members, `patient`) within the principal's own
 * restriction (patient/ scopes), and the consent decision the consent stage gave the kick-off (for requesters that
 * consent governs) — compiled into the export's SQL like any search.
 */
export function effectiveRestriction(job: BulkJob<ExportRequest>): AccessRestriction | undefined {
  const own = job.principal.restriction;
  const cohort = job.request.patients;
  const patients = own?.patients && cohort ? cohort.filter((p) => own.patients!.includes(p)) : (own?.patients ?? cohort);
  if (!patients && !own?.consent) return undefined;
  return { ...(patients ? { patients } : {}), ...(own?.consent ? { consent: own.consent } : {}) };
}

/** The associated Provenance go to the files after the job's own Provenance files, if it has any. */
function associatedStart(progress: ExportCheckpoint): TypeProgress {
  const own = progress.Provenance?.part;
  return { afterRid: '0', part: { part: own && own.count > 0 ? own.part + 1 : 1, bytes: 0, count: 0 } };
}

function elementsFor(type: string, elements: string[] | undefined): string[] | undefined {
  if (!elements) return undefined;
  return elements.some((e) => !e.includes('.') || e.startsWith(`${type}.`)) ? elements : undefined;
}

/**
 * Runs one `$export` job: per type, snapshot batches (see SnapshotReader) appended to NDJSON files, each batch
 * committed as a checkpoint together with the files' counts — so after a restart the job resumes at the last
 * checkpoint, and files finished before are neither rewritten nor duplicated. With `includeAssociatedData`, each
 * batch also gathers its Provenance (AssociatedProvenance), written after the last type into further Provenance files.
 */
export class ExportJobExecutor {
  constructor(
    private readonly db: Db,
    private readonly search: SearchEngine,
    private readonly jobs: BulkJobStore,
    private readonly config: BulkConfig,
    private readonly log: Logger,
    private readonly audit: BulkAudit,
    private readonly associated: AssociatedProvenance,
  ) {}

  /** One audit record per job: who exported which types of which patients. */
  async finished(job: BulkJob<ExportRequest>, state: 'completed' | 'failed', tx?: Tx): Promise<void> {
    const done = state === 'completed' ? await this.jobs.get(job.id, 'export') : undefined;
    await this.audit.record(
      {
        action: state === 'completed' ? 'export-completed' : 'export-failed',
        jobId: job.id,
        principal: job.principal,
        level: job.request.level,
        types: job.request.types,
        patients: effectiveRestriction(job)?.patients ?? 'all',
        resources: done?.processed ?? job.processed,
      },
      tx,
    );
  }

  jobDir(id: string): string {
    return path.join(this.config.dir, id);
  }

  async run(job: BulkJob<ExportRequest, ExportCheckpoint>, workerId: string, stopping: () => boolean): Promise<RunOutcome> {
    const dir = this.jobDir(job.id);
    await mkdir(dir, { recursive: true });
    const progress: ExportCheckpoint = job.checkpoint ?? {};
    const queue = job.request.types.filter((t) => !progress[t]?.done);
    this.log.info({ job: job.id, types: queue.length, of: job.request.types.length }, 'bulk export running');
    // a few types at once: each stream keeps one PostgreSQL backend rendering JSON, the slowest part of an export
    let outcome: RunOutcome = 'completed';
    // a stream that stops, fails or finds the job gone stops the others at their next batch
    const halt = () => stopping() || outcome !== 'completed';
    const stream = async () => {
      try {
        for (let type = queue.shift(); type && outcome === 'completed'; type = queue.shift()) {
          const result = await this.exportType(job, type, progress[type] ?? NOT_STARTED, workerId, halt);
          if (result !== 'completed' && outcome === 'completed') outcome = result;
        }
      } catch (e) {
        if (outcome === 'completed') outcome = 'stopped';
        throw e;
      }
    };
    const streams = Array.from({ length: Math.min(this.config.streamsPerJob, Math.max(1, queue.length)) }, stream);
    const results = await Promise.allSettled(streams);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (outcome === 'completed' && job.request.associatedData) {
      // where the types ended is in the checkpoints (the streams do not update `progress`)
      const done: ExportCheckpoint = (await this.jobs.get(job.id, 'export'))?.checkpoint ?? {};
      outcome = await this.exportAssociated(job, done[ASSOCIATED_PASS] ?? associatedStart(done), workerId, halt);
    }
    return outcome;
  }

  /** What a type's batches add to the associated Provenance (in their checkpoint's transaction), if asked. */
  private gatherer(job: BulkJob<ExportRequest>, type: string): ((tx: Tx, rids: string[]) => Promise<void>) | undefined {
    const kind = job.request.associatedData;
    if (!kind) return undefined;
    if (type === 'Provenance') return (tx, rids) => this.associated.exportedAsType(tx, job.id, rids);
    return (tx, rids) => this.associated.gather(tx, job.id, kind, rids, job.transactionTime);
  }

  /**
   * The associated Provenance gathered by the types' batches, in rid order, as of the transaction time (and
   * `_since`), within the requester's own restriction (patient/ scopes, consent; not the cohort: a Provenance of
   * an exported Observation is in no patient's compartment). One keyset batch per checkpoint, like a type.
   */
  private async exportAssociated(job: BulkJob<ExportRequest>, from: TypeProgress, workerId: string, stopping: () => boolean): Promise<RunOutcome> {
    if (from.done) return 'completed';
    const reader = new SnapshotReader(this.db, this.search);
    const own = job.principal.restriction;
    const elements = elementsFor('Provenance', job.request.elements);
    const writer = await NdjsonPartWriter.open(this.jobDir(job.id), 'Provenance', 'output', this.config.maxFileBytes, from.part);
    try {
      for (let after = from.afterRid; ; ) {
        if (stopping()) return 'stopped';
        const batch = await this.associated.next(this.db, job.id, after, this.config.batchSize);
        const visible =
          own && batch.ids.length
            ? await this.search.scanRids(this.db, 'Provenance', { filters: [`_id=${batch.ids.join(',')}`], afterRid: '0', limit: batch.ids.length, restriction: own })
            : batch.rids;
        const { json } = await reader.versionsOf({ resourceType: 'Provenance', transactionTime: job.transactionTime, since: job.request.since }, visible);
        const lines = elements ? json.map((j) => JSON.stringify(project(JSON.parse(j), undefined, elements))) : json;
        const files = lines.length ? await writer.write(lines) : [];
        const at: TypeProgress = { afterRid: batch.lastRid, part: writer.position, ...(batch.done ? { done: true } : {}) };
        const held = await this.db.transaction((tx) => this.jobs.checkpoint(tx, job.id, workerId, this.config.leaseSeconds, at, lines.length, files, ASSOCIATED_PASS));
        if (!held) return 'lost';
        if (batch.done) return 'completed';
        after = batch.lastRid;
        // the same pause after each batch as the types' passes (BULK_BATCH_DELAY_MS)
        if (this.config.batchDelayMs) await new Promise((r) => setTimeout(r, this.config.batchDelayMs));
      }
    } finally {
      await writer.close();
    }
  }

  /** One type, from its checkpoint to its end: keyset batches appended to its files, a checkpoint after each. */
  private async exportType(job: BulkJob<ExportRequest>, type: string, from: TypeProgress, workerId: string, stopping: () => boolean): Promise<RunOutcome> {
    const req = job.request;
    const reader = new SnapshotReader(this.db, this.search);
    const scope = { resourceType: type, transactionTime: job.transactionTime, since: req.since, filters: req.typeFilters[type], restriction: effectiveRestriction(job) };
    const elements = elementsFor(type, req.elements);
    const gather = this.gatherer(job, type);
    const writer = await NdjsonPartWriter.open(this.jobDir(job.id), type, 'output', this.config.maxFileBytes, from.part);
    const read = (after: string) => {
      const p = reader.next(scope, after, this.config.batchSize);
      p.catch(() => undefined); // awaited below; a failure must not count as unhandled meanwhile
      return p;
    };
    // the next batch is read while this one is written: PostgreSQL (rendering JSON) and Node (writing) overlap
    let pending: Promise<SnapshotBatch> | undefined = read(from.afterRid);
    try {
      for (;;) {
        const batch: SnapshotBatch = await pending!;
        pending = undefined;
        if (stopping()) return 'stopped';
        if (!batch.done) pending = read(batch.lastRid);
        const lines = elements ? batch.json.map((j) => JSON.stringify(project(JSON.parse(j), undefined, elements))) : batch.json;
        const files = lines.length ? await writer.write(lines) : [];
        const at: TypeProgress = { afterRid: batch.lastRid, part: writer.position, ...(batch.done ? { done: true } : {}) };
        const held = await this.db.transaction(async (tx) => {
          const mine = await this.jobs.checkpoint(tx, job.id, workerId, this.config.leaseSeconds, at, lines.length, files, type);
          if (mine && gather) await gather(tx, batch.rids);
          return mine;
        });
        if (!held) return 'lost';
        if (batch.done) return 'completed';
        if (this.config.batchDelayMs) await new Promise((r) => setTimeout(r, this.config.batchDelayMs));
      }
    } finally {
      await pending?.catch(() => undefined);
      await writer.close();
    }
  }
}
