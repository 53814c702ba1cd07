import { detached } from '../../../modules/database/statement-counter.js';
import type { Db } from '../../../modules/database/db.js';
import { INDEX_TABLES } from './search-index-writer.js';

const MIN_ROWS = 2_000;
const GROWTH = 0.2;
const MIN_INTERVAL_MS = 3_000;

/**
 * Refreshes planner statistics of the search tables after bulk writes. Without them (autovacuum analyzes only after
 * its naptime), PostgreSQL plans a freshly loaded index as nearly empty and a chained search went from 8 ms to 46 s
 * in a test. Each process counts the rows it wrote and runs ANALYZE when they exceed 20% of what was there at the
 * last run (at least 2,000 rows, at most every 3 s). A threshold reached inside those 3 s is not forgotten: a timer
 * runs the ANALYZE when they are over, even if no further write comes (a load that ended just after the previous
 * ANALYZE otherwise stayed unanalyzed until autovacuum came by). Analyzing twice from two processes is harmless.
 */
export class StatisticsKeeper {
  private written = 0;
  private baseline = 0;
  private last = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Db | undefined) {}

  noteWritten(rows: number): void {
    this.written += rows;
    if (this.running || !this.db) return;
    if (this.written < Math.max(MIN_ROWS, this.baseline * GROWTH)) return;
    const wait = this.last + MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.noteWritten(0);
      }, wait).unref();
      return;
    }
    this.running = true;
    const written = this.written;
    detached(() => setImmediate(() => void this.analyze(written)));
  }

  private async analyze(written: number): Promise<void> {
    try {
      await this.db!.query(`ANALYZE resource, ${INDEX_TABLES.join(', ')}`);
      this.baseline += written;
      this.written -= written;
    } catch {
      // statistics are an optimisation; the next threshold tries again
    } finally {
      this.last = Date.now();
      this.running = false;
    }
  }
}
