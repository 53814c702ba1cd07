import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Db, Tx } from '../database/db.js';
import { R4Definitions } from '../../fhir/definitions/r4-definitions.js';
import { FhirError, type OperationOutcome } from '../../fhir/operation-outcome.js';
import type { Interaction } from '../../fhir/pipeline/interaction.js';
import type { FhirPipeline } from '../../fhir/pipeline/pipeline.js';
import { toFhirError } from '../../fhir/rest/errors.js';
import type { BulkAudit } from './bulk-audit.js';
import type { BulkConfig } from './bulk-config.js';
import type { BulkJob, BulkJobStore } from './bulk-job-store.js';
import type { RunOutcome } from './export-job.js';
import type { ImportCheckpoint } from './import-manifest.js';
import type { ImportInput, ImportRequest } from './import-operation.js';
import { NdjsonPartWriter } from './ndjson-part-writer.js';

const FIRST: ImportCheckpoint = { inputIndex: 0, line: 0, loaded: 0, errors: 0, errorPart: { part: 1, bytes: 0, count: 0 }, loadedByType: {} };
/** Lines written at once (each its own transaction through the pipeline). */
const CONCURRENCY = 8;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** An id for a resource that came without one, the same on every attempt at that line (so a resumed job re-loads it as an update, not a duplicate). */
function lineId(jobId: string, input: number, line: number): string {
  const h = createHash('sha1').update(`${jobId}:${input}:${line}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Runs one `$import` job: reads each NDJSON input line by line (memory holds one batch), writes every resource as
 * an update through the pipeline (authorize, consent, validation and audit apply, one transaction per resource: a
 * resource is loaded whole or not at all), and reports each rejected line as an OperationOutcome in the job's error
 * file. A checkpoint per batch (input, line, counts, error file position) lets a restarted job go on from there.
 */
export class ImportJobExecutor {
  constructor(
    private readonly db: Db,
    private readonly pipeline: FhirPipeline,
    private readonly jobs: BulkJobStore,
    private readonly config: BulkConfig,
    private readonly baseUrl: () => string,
    private readonly log: Logger,
    private readonly audit: BulkAudit,
  ) {}

  async finished(job: BulkJob<ImportRequest, ImportCheckpoint>, state: 'completed' | 'failed', tx?: Tx): Promise<void> {
    const done = (await this.jobs.get(job.id, 'import')) ?? job;
    const cp: ImportCheckpoint = done.checkpoint ?? FIRST;
    await this.audit.record({ action: state === 'completed' ? 'import-completed' : 'import-failed', jobId: job.id, principal: job.principal, types: Object.keys(cp.loadedByType ?? {}), resources: cp.loaded ?? 0, errors: cp.errors ?? 0 }, tx);
  }

  async run(job: BulkJob<ImportRequest, ImportCheckpoint>, workerId: string, stopping: () => boolean): Promise<RunOutcome> {
    const dir = path.join(this.config.dir, job.id);
    await mkdir(dir, { recursive: true });
    let cp: ImportCheckpoint = job.checkpoint?.errorPart ? job.checkpoint : FIRST;
    const errors = await NdjsonPartWriter.open(dir, 'OperationOutcome', 'error', this.config.maxFileBytes, cp.errorPart);
    const batchSize = Math.min(this.config.batchSize, 500);
    try {
      for (let i = cp.inputIndex; i < job.request.inputs.length; i++) {
        const input = job.request.inputs[i];
        const skip = cp.inputIndex === i ? cp.line : 0;
        const stream = createReadStream(path.join(this.config.dir, input.file), { encoding: 'utf8' });
        const lines = createInterface({ input: stream, crlfDelay: Infinity });
        let lineNo = 0;
        let batch: { lineNo: number; text: string }[] = [];
        const flush = async (last: boolean): Promise<RunOutcome | undefined> => {
          const results = await this.loadAll(job, i, input, batch);
          const rejected = results.filter((r): r is OperationOutcome => typeof r !== 'string');
          const files = rejected.length ? await errors.write(rejected.map((o) => JSON.stringify(o))) : [];
          const loadedByType = { ...cp.loadedByType };
          for (const r of results) if (typeof r === 'string') loadedByType[r] = (loadedByType[r] ?? 0) + 1;
          const loaded = results.length - rejected.length;
          cp = {
            inputIndex: last ? i + 1 : i,
            line: last ? 0 : lineNo,
            loaded: cp.loaded + loaded,
            errors: cp.errors + rejected.length,
            errorPart: errors.position,
            loadedByType,
          };
          batch = [];
          const held = await this.db.transaction((tx) => this.jobs.checkpoint(tx, job.id, workerId, this.config.leaseSeconds, cp, loaded, files));
          if (!held) return 'lost';
          if (stopping()) return 'stopped';
          if (this.config.batchDelayMs) await new Promise((r) => setTimeout(r, this.config.batchDelayMs));
          return undefined;
        };
        try {
          for await (const text of lines) {
            lineNo++;
            if (lineNo <= skip) continue;
            batch.push({ lineNo, text });
            if (batch.length >= batchSize) {
              const stop = await flush(false);
              if (stop) return stop;
            }
          }
          const stop = await flush(true);
          if (stop && stop !== 'stopped') return stop;
          if (stop === 'stopped' && i + 1 < job.request.inputs.length) return stop;
        } finally {
          lines.close();
          stream.destroy();
        }
      }
      return 'completed';
    } finally {
      await errors.close();
    }
  }

  /** Loads a batch of lines, a few at a time; each answer is the type loaded or the OperationOutcome of the rejection. */
  private async loadAll(job: BulkJob<ImportRequest>, inputIndex: number, input: ImportInput, batch: { lineNo: number; text: string }[]): Promise<(string | OperationOutcome)[]> {
    const results: (string | OperationOutcome)[] = [];
    const lines = batch.filter((l) => l.text.trim().length > 0);
    for (let k = 0; k < lines.length; k += CONCURRENCY) {
      results.push(...(await Promise.all(lines.slice(k, k + CONCURRENCY).map((l) => this.loadLine(job, inputIndex, input, l.lineNo, l.text)))));
    }
    return results;
  }

  private async loadLine(job: BulkJob<ImportRequest>, inputIndex: number, input: ImportInput, lineNo: number, text: string): Promise<string | OperationOutcome> {
    try {
      let resource: any;
      try {
        resource = JSON.parse(text);
      } catch (e) {
        throw new FhirError(400, `Not valid JSON: ${(e as Error).message}`, 'structure');
      }
      if (!resource || typeof resource !== 'object' || Array.isArray(resource)) throw new FhirError(400, 'A line must hold one resource (a JSON object)', 'structure');
      const type = resource.resourceType;
      if (typeof type !== 'string' || !R4Definitions.get().isResourceType(type)) throw new FhirError(400, `'${String(type)}' is not a resource type`, 'structure');
      if (input.type && type !== input.type) throw new FhirError(400, `A ${type} in an input declared as ${input.type}`, 'invalid');
      const id = resource.id ?? lineId(job.id, inputIndex, lineNo);
      if (typeof id !== 'string' || !ID.test(id)) throw new FhirError(400, `Invalid resource id '${String(id)}'`, 'invalid');
      const { address: _a, restriction: _r, ...principal } = job.principal as any;
      const ix: Interaction = {
        kind: 'update',
        resourceType: type,
        id,
        params: [],
        body: { ...resource, id },
        prefer: {},
        principal,
        door: 'bulk',
        requestId: `${job.id}:${inputIndex}:${lineNo}`,
      };
      await this.pipeline.execute(ix, { baseUrl: this.baseUrl() });
      return type;
    } catch (err) {
      const fe = toFhirError(err);
      if (fe.status >= 500) this.log.error({ err, job: job.id, line: lineNo }, 'import line failed');
      return {
        resourceType: 'OperationOutcome',
        issue: fe.outcome.issue.map((i) => ({ ...i, diagnostics: `${input.url} line ${lineNo}: ${i.diagnostics ?? i.details?.text ?? ''}`, location: [`line ${lineNo}`] })),
      } as OperationOutcome;
    }
  }
}
