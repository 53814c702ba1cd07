import { Injectable } from '@nestjs/common';
import { Db, type Queryable, type Tx } from '../modules/database/db.js';
import { detached } from '../modules/database/statement-counter.js';
import { arrayLiteral } from '../modules/database/pg-array.js';
import { Hasher, storedJson } from './canonical-json.js';
import { indexOf, recordParts, type AuditEvent } from './audit-record.js';

interface Pending {
  events: AuditEvent[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Head {
  seq: number;
  hash: Buffer;
}

/** Most records one group commit writes. */
const MAX_GROUP = 1000;

/**
 * Separates the rows of a group inside one text parameter. Canonical JSON never holds it raw (JSON escapes control
 * characters) and the index columns are stripped of control characters (audit-record.ts), so no row can contain it.
 * Measured: passing ten text[] parameters made node-postgres escape every character of every record (escapeElement
 * was 5% of the hub's time under read load); one joined text per column costs a join here and string_to_array there.
 */
const RS = '\x1e';

const INSERT = `INSERT INTO audit_event (seq, prev_hash, hash, content, id, recorded, patients, agents, entities, request_id)
  SELECT $1::bigint + u.n, decode(u.p, 'hex'), decode(u.h, 'hex'), u.c, u.i, u.r::timestamptz, u.pa::text[], u.ag::text[], u.en::text[], nullif(u.rq, '')
  FROM unnest(string_to_array($2, ','), string_to_array($3, ','), string_to_array($4, E'\\x1e'), string_to_array($5, ','),
              string_to_array($6, ','), string_to_array($7, E'\\x1e'), string_to_array($8, E'\\x1e'), string_to_array($9, E'\\x1e'),
              string_to_array($10, E'\\x1e')) WITH ORDINALITY AS u(p, h, c, i, r, pa, ag, en, rq, n)`;

/**
 * Appends AuditEvents to the hash chain. The chain head is one row (`audit_chain_head`) that every append, in every
 * hub process, locks inside its committing transaction: records get consecutive positions after the head, each
 * linked to the previous hash, in one strict order whatever the concurrency. Two ways in:
 * - `appendInTx`: inside the transaction that carries a write, so the write and its record commit together;
 * - `append`: group commit for everything else (reads, searches, failures): the records that arrive while a group
 *   is committing are written by the next one, and each caller waits for its commit.
 * The head this process last wrote is kept, so an append is usually ONE statement that checks the head is still
 * that one (locking it) and inserts; when another process or a rolled-back transaction moved it, the head is read
 * again and the append retried.
 */
@Injectable()
export class AuditChain {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private head?: Head;
  /** appends inside one transaction are coalesced and run one after the other */
  private readonly txBatches = new WeakMap<Tx, { events: AuditEvent[]; done: Promise<void> }>();
  private readonly txTails = new WeakMap<Tx, Promise<void>>();
  private readonly listeners: ((appended: number) => void)[] = [];
  private readonly hasher = new Hasher();

  constructor(private readonly db: Db) {}

  /** Called after records were appended (committed, or about to be with their transaction): drives checkpoints. */
  onAppend(listener: (appended: number) => void): void {
    this.listeners.push(listener);
  }

  /** Group commit: resolves once the events are committed. */
  append(...events: AuditEvent[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.schedule();
    });
  }

  /** Appends inside the caller's transaction (they commit or roll back with it). */
  appendInTx(tx: Tx, events: AuditEvent[]): Promise<void> {
    let batch = this.txBatches.get(tx);
    if (!batch) {
      const fresh = { events: [] as AuditEvent[], done: Promise.resolve() };
      // later calls in the same turn join this batch; it starts after the previous one of this transaction
      fresh.done = (this.txTails.get(tx) ?? Promise.resolve()).then(() => {
        this.txBatches.delete(tx);
        return this.insertInTx(tx, fresh.events);
      });
      this.txTails.set(tx, fresh.done.catch(() => undefined));
      this.txBatches.set(tx, fresh);
      batch = fresh;
    }
    batch.events.push(...events);
    return batch.done;
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // the group commit is everyone's: no request's statement count
    detached(() => setImmediate(() => void this.flush()));
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    try {
      for (let first = true; this.queue.length; first = false) {
        // after a commit, let this turn's I/O (reads that completed meanwhile) add its records before the next group
        // starts: measured, groups fill better and an audited read cost ~15 % less hub CPU (bench/RESULTS.md)
        if (!first) await new Promise((resolve) => setImmediate(resolve));
        const group: Pending[] = [];
        let n = 0;
        while (this.queue.length && n < MAX_GROUP) {
          const p = this.queue.shift()!;
          group.push(p);
          n += p.events.length;
        }
        try {
          await this.commit(group.flatMap((p) => p.events));
          for (const p of group) p.resolve();
        } catch (err) {
          if (group.length === 1) group[0].reject(err);
          // one bad record must not fail the others: each is retried alone
          else for (const p of group) await this.commit(p.events).then(p.resolve, p.reject);
        }
      }
    } finally {
      this.flushing = false;
      if (this.queue.length) this.schedule();
    }
  }

  /** Outside any transaction: one conditional statement (autocommit) while the known head holds, else a locked transaction. */
  private async commit(events: AuditEvent[]): Promise<void> {
    if (!events.length) return;
    if (this.head && (await this.tryAppend(this.db, this.head, events))) return;
    await this.db.transaction((tx) => this.lockedAppend(tx, events));
  }

  private insertInTx(tx: Tx, events: AuditEvent[]): Promise<void> {
    if (!events.length) return Promise.resolve();
    const known = this.head;
    return (known ? this.tryAppend(tx, known, events) : Promise.resolve(false)).then((ok) => (ok ? undefined : this.lockedAppend(tx, events)));
  }

  /** Appends after `expected` if it is still the head (locking it); false when the head has moved. */
  private async tryAppend(q: Queryable, expected: Head, events: AuditEvent[]): Promise<boolean> {
    const { values, last } = this.link(expected, events);
    const res = await q.query({
      name: 'audit_append_if_head',
      text: `WITH head AS (SELECT seq FROM audit_chain_head WHERE seq = $11 AND hash = $12 FOR UPDATE),
                  ins AS (${INSERT} WHERE EXISTS (SELECT 1 FROM head)),
                  upd AS (UPDATE audit_chain_head SET seq = $13, hash = $14 WHERE EXISTS (SELECT 1 FROM head))
             SELECT count(*)::int AS n FROM head`,
      values: [...values, expected.seq, expected.hash, last.seq, last.hash],
    });
    if (res.rows[0].n !== 1) return false;
    this.moved(last, events.length);
    return true;
  }

  /** Locks the head, links the events after it, inserts them and moves the head. */
  private async lockedAppend(tx: Tx, events: AuditEvent[]): Promise<void> {
    const row = (await tx.query({ name: 'audit_head_lock', text: 'SELECT seq::text AS seq, hash FROM audit_chain_head FOR UPDATE' })).rows[0];
    const { values, last } = this.link({ seq: Number(row.seq), hash: row.hash }, events);
    await tx.query({ name: 'audit_append', text: `WITH ins AS (${INSERT}) UPDATE audit_chain_head SET seq = $11, hash = $12`, values: [...values, last.seq, last.hash] });
    this.moved(last, events.length);
  }

  /** The head as this process believes it now is (a rolled-back transaction makes it wrong: the next append notices). */
  private moved(head: Head, appended: number): void {
    this.head = head;
    for (const l of this.listeners) l(appended);
  }

  /** Numbers the events after `head` and computes each one's hash: the ten parameters of INSERT, and the new head. */
  private link(head: Head, events: AuditEvent[]): { values: unknown[]; last: Head } {
    let seq = head.seq;
    let prev = head.hash.toString('hex');
    const cols: string[][] = Array.from({ length: 9 }, () => []);
    for (const event of events) {
      seq += 1;
      const content = storedJson(event);
      const idx = indexOf(event);
      // the record's text is hashed in its three parts: the event's text is flattened by the hashing, once
      const { prefix, suffix } = recordParts(seq, idx);
      const hash = this.hasher.link(prev, prefix, content, suffix);
      const row = [prev, hash, content, idx.id, idx.recorded, arrayLiteral(idx.patients), arrayLiteral(idx.agents), arrayLiteral(idx.entities), idx.requestId ?? ''];
      for (let i = 0; i < 9; i++) cols[i].push(row[i]);
      prev = hash;
    }
    const sep = [',', ',', RS, ',', ',', RS, RS, RS, RS];
    return { values: [head.seq, ...cols.map((c, i) => c.join(sep[i]))], last: { seq, hash: Buffer.from(prev, 'hex') } };
  }
}
