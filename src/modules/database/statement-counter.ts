import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Counts the SQL statements a piece of work sends (Db.query and transaction queries), for whoever runs it inside
 * `countStatements` (the GraphQL door, when a request asks for it, reports the count per query, to show that it
 * does not grow with the results).
 *
 * Work shared between requests must not be charged to whichever request happened to start it, or the count would
 * depend on what else the hub was doing (a test against the shared hub saw 10 statements instead of 5):
 * - a batch that answers several requests (the read and create batchers) runs in `shared()`: each request that
 *   joined it is charged the whole batch's statements, as if it had been alone;
 * - background work (the audit group commit and its checkpoints, ANALYZE, job ticks) runs `detached()`: nobody's.
 *
 * AsyncLocalStorage tracks every promise while it is enabled (async hooks, Node 20), which slows the whole process;
 * it is enabled only while a counted piece of work runs, and disabled again after the last one.
 */
export interface StatementCount {
  statements: number;
}

const storage = new AsyncLocalStorage<StatementCount>();
let running = 0;

export async function countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; statements: number }> {
  const counter: StatementCount = { statements: 0 };
  running++;
  try {
    const result = await storage.run(counter, fn);
    return { result, statements: counter.statements };
  } finally {
    if (--running === 0) storage.disable();
  }
}

export function statementSent(): void {
  if (running === 0) return;
  const c = storage.getStore();
  if (c) c.statements++;
}

/** The counter of the work running here, to hand to `shared()` later (undefined when nothing is counted). */
export function currentCount(): StatementCount | undefined {
  return running === 0 ? undefined : storage.getStore();
}

/** Runs `fn` outside any counter: what it (and what it starts) sends is nobody's. */
export function detached<T>(fn: () => T): T {
  return running === 0 ? fn() : storage.exit(fn);
}

/** Runs a batch on behalf of several counted pieces of work: each distinct one is charged all its statements. */
export async function shared<T>(counters: Iterable<StatementCount | undefined>, fn: () => Promise<T>): Promise<T> {
  const charged = new Set<StatementCount>();
  for (const c of counters) if (c) charged.add(c);
  if (!charged.size) return detached(fn);
  const batch: StatementCount = { statements: 0 };
  try {
    return await storage.run(batch, fn);
  } finally {
    for (const c of charged) c.statements += batch.statements;
  }
}
