import type { Db } from '../../modules/database/db.js';
import { currentCount, shared, type StatementCount } from '../../modules/database/statement-counter.js';

interface PendingRead<T> {
  key: string;
  resourceType: string;
  id: string;
  resolve: (row: T | undefined) => void;
  reject: (err: unknown) => void;
  counter?: StatementCount;
}

/**
 * Reads by id that arrive in the same turn of the event loop (concurrent requests) are answered by ONE query:
 * measured, a query round trip (socket write, PostgreSQL's per-statement work) is most of what a read costs, so
 * under load N reads cost about one. A lone read waits for nothing but the end of the current turn.
 */
export class ReadBatcher<T extends { resource_type: string; id: string }> {
  private pending: PendingRead<T>[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    /** SELECT ... WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) */
    private readonly batchSql: string,
    private readonly name: string,
    private readonly maxBatch = 200,
  ) {}

  read(resourceType: string, id: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ key: `${resourceType}/${id}`, resourceType, id, resolve, reject, counter: currentCount() });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    shared(batch.map((b) => b.counter), () =>
      this.db.query({ name: this.name, text: this.batchSql, values: [batch.map((b) => b.resourceType), batch.map((b) => b.id)] }),
    ).then(
        (res) => {
          const byKey = new Map<string, T>(res.rows.map((r: T) => [`${r.resource_type}/${r.id}`, r]));
          for (const b of batch) b.resolve(byKey.get(b.key));
        },
        (err) => {
          for (const b of batch) b.reject(err);
        },
      );
  }
}
