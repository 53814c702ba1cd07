import { rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Deletes a job's folder. A running job may create a file in it while it is being removed (a cancel arrives
 * mid-part): the removal then fails with ENOTEMPTY, so it is retried a few times. Resolves false when the folder
 * is still there after that; the runner removes it when it notices the job is gone.
 */
export async function removeJobFiles(dir: string, jobId: string): Promise<boolean> {
  try {
    await rm(path.join(dir, jobId), { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    return true;
  } catch {
    return false;
  }
}
