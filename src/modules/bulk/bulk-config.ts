import path from 'node:path';
import { envInt, type HubConfig } from '../config/hub-config.js';

/** Settings of bulk $export/$import, from the environment (or `HubConfig.bulk` overrides, as tests do). */
export interface BulkConfig {
  /** Folder of the output files: `<dir>/<job id>/<file>`; every hub process serving downloads must see it. */
  dir: string;
  /** An output file is closed and the next one started when the next line would pass this size (bytes). */
  maxFileBytes: number;
  /** How long the files of a finished job stay downloadable (seconds). */
  retentionSeconds: number;
  /** Resources read per statement (and per checkpoint). */
  batchSize: number;
  /** Pause after each batch (ms): 0 in production; tests slow a job down to interrupt it mid-way. */
  batchDelayMs: number;
  /** A running job's lease; renewed after every batch, so a job whose process died is taken over after this. */
  leaseSeconds: number;
  /** How often a process looks for queued jobs and expired ones (ms). */
  pollMs: number;
  /** Jobs one process runs at the same time. */
  jobsPerProcess: number;
  /** Resource types one export job writes at the same time (each keeps one database connection busy). */
  streamsPerJob: number;
}

export function loadBulkConfig(hub: HubConfig): BulkConfig {
  const o = hub.bulk ?? {};
  return {
    dir: o.dir ?? path.join(hub.dataDir, 'bulk'),
    maxFileBytes: o.maxFileBytes ?? envInt('BULK_MAX_FILE_BYTES', 128 * 1024 * 1024),
    retentionSeconds: o.retentionSeconds ?? envInt('BULK_RETENTION_SECONDS', 24 * 3600),
    batchSize: Math.max(1, o.batchSize ?? envInt('BULK_BATCH_SIZE', 500)),
    batchDelayMs: o.batchDelayMs ?? envInt('BULK_BATCH_DELAY_MS', 0),
    leaseSeconds: Math.max(1, o.leaseSeconds ?? envInt('BULK_LEASE_SECONDS', 60)),
    pollMs: Math.max(10, o.pollMs ?? envInt('BULK_POLL_MS', 1000)),
    jobsPerProcess: Math.max(1, o.jobsPerProcess ?? envInt('BULK_JOBS_PER_PROCESS', 2)),
    streamsPerJob: Math.max(1, o.streamsPerJob ?? envInt('BULK_STREAMS_PER_JOB', 2)),
  };
}
