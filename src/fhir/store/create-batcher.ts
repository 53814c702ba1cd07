import type { Db, Tx } from '../../modules/database/db.js';
import type { StoredVersion } from './stored-resource.js';
import { currentCount, shared, type StatementCount } from '../../modules/database/statement-counter.js';

interface Pending<P> {
  item: P;
  resolve: (s: StoredVersion) => void;
  reject: (err: unknown) => void;
  counter?: StatementCount;
}

/**
 * Group commit for independent creates: the creates that arrive in the same turn of the event loop are written by
 * one transaction (one multi-row insert per table, one commit) instead of one transaction each. Each was validated
 * on its own before; if the group fails as a whole, every create is retried alone so one bad create cannot fail
 * the others.
 */
export class CreateBatcher<P> {
  private pending: Pending<P>[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly write: (tx: Tx, items: P[]) => Promise<StoredVersion[]>,
    private readonly maxBatch = 100,
  ) {}

  create(item: P): Promise<StoredVersion> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject, counter: currentCount() });
      if (this.pending.length >= this.maxBatch) void this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    try {
      const stored = await shared(batch.map((b) => b.counter), () => this.db.transaction((tx) => this.write(tx, batch.map((b) => b.item))));
      batch.forEach((b, i) => b.resolve(stored[i]));
    } catch (err) {
      if (batch.length === 1) return batch[0].reject(err);
      await Promise.all(
        batch.map((b) =>
          shared([b.counter], () => this.db.transaction((tx) => this.write(tx, [b.item]))).then(
            ([s]) => b.resolve(s),
            (e) => b.reject(e),
          ),
        ),
      );
    }
  }
}
