import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { statementSent } from './statement-counter.js';

/** Anything that runs SQL: the pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = any>(config: { name?: string; text: string; values?: unknown[] }): Promise<QueryResult<R>>;
}

/**
 * For a statement whose plan does not depend on its values, planned once per connection and reused, whatever
 * PostgreSQL's own choice between custom and generic plans would be: in automatic mode it keeps planning a
 * statement afresh at every call when its generic plan is *estimated* dearer than the custom ones, even when the
 * generic plan is the same plan. At 1M resources the `_sort=-date` page (an index read in order) was planned at every
 * call: 1.0 ms of planning for 0.35 ms of execution, the same plan either way.
 */
export const GENERIC_PLAN = 'plan_cache_mode=force_generic_plan';

/** A database transaction: one pinned connection. */
export interface Tx extends Queryable {
  readonly inTransaction: true;
  /** Runs fn once the transaction has committed (never when it rolls back). */
  afterCommit(fn: () => void): void;
}

/**
 * Thin access to PostgreSQL for the hot paths. TypeORM owns the connection settings and migrations; the engine
 * talks to the same pg pool with parameterised SQL, which keeps per-request overhead to one round trip.
 */
export class Db implements Queryable {
  constructor(
    readonly pool: Pool,
    /**
     * Connections whose statements always run on a generic plan (`plan_cache_mode = force_generic_plan`, set when
     * they connect): a statement config marked `generic: true` goes there (see `GENERIC_PLAN`). Without it, or in a
     * transaction, the mark is ignored.
     */
    readonly genericPool?: Pool,
  ) {}

  query(textOrConfig: any, values?: unknown[]): Promise<QueryResult<any>> {
    statementSent();
    if (this.genericPool && textOrConfig?.generic === true) return this.genericPool.query(textOrConfig, values);
    return this.pool.query(textOrConfig, values);
  }

  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    const committed: (() => void)[] = [];
    const tx = Object.assign(
      { inTransaction: true as const },
      { query: (t: any, v?: unknown[]) => (statementSent(), client.query(t, v)), afterCommit: (f: () => void) => void committed.push(f) },
    ) as unknown as Tx;
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      for (const f of committed) f();
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }
}

/** Runs fn inside the given transaction, or in a new one when only the pool is at hand. */
export function inTransaction<T>(db: Db, q: Queryable | undefined, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (q && (q as Tx).inTransaction) return fn(q as Tx);
  return db.transaction(fn);
}
