import type { BulkJob, BulkOutput } from './bulk-job-store.js';
import type { PartState } from './ndjson-part-writer.js';

/** Where an import stands: the input being read and the lines of it already loaded or rejected. */
export interface ImportCheckpoint {
  inputIndex: number;
  /** lines of the current input done (loaded or reported) */
  line: number;
  loaded: number;
  errors: number;
  /** the error file's position (OperationOutcome NDJSON, one per rejected line) */
  errorPart: PartState;
  loadedByType: Record<string, number>;
}

export function importProgress(job: BulkJob<any, ImportCheckpoint>): string {
  if (job.state === 'queued') return 'queued';
  const cp = job.checkpoint ?? {};
  return `${cp.loaded ?? 0} resources loaded, ${cp.errors ?? 0} lines rejected; input ${(cp.inputIndex ?? 0) + 1} of ${job.request.inputs?.length ?? 0}`;
}

/** The completion manifest of an import: counts per type, and the error file of rejected lines. */
export function importManifest(job: BulkJob<any, ImportCheckpoint>, outputs: BulkOutput[], url: (file: string) => string): unknown {
  return {
    transactionTime: job.transactionTime,
    request: job.requestUrl,
    requiresAccessToken: true,
    output: (Object.entries(job.checkpoint?.loadedByType ?? {}) as [string, number][]).map(([type, count]) => ({ type, count, inputUrl: job.request.inputs.find((i: any) => i.type === type)?.url })),
    error: outputs.filter((o) => o.kind === 'error').map((o) => ({ type: 'OperationOutcome', url: url(o.fileName), count: o.count })),
  };
}
