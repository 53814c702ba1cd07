import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../modules/database/db.js';
import { GENESIS_HASH, Hasher } from './canonical-json.js';
import { RECORD_TEXT_SQL } from './audit-record.js';
import { verifyCheckpoint } from './checkpoint-keys.js';

export type ProblemKind = 'hash-mismatch' | 'broken-link' | 'missing-record' | 'tail-missing' | 'checkpoint-forged' | 'checkpoint-mismatch';

export interface VerifyProblem {
  kind: ProblemKind;
  /** chain position (seq) of the broken record, or of the first missing one */
  position: number;
  /** id of the AuditEvent at that position (or of the next record present, when one is missing) */
  id?: string;
  expected?: string;
  stored?: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  lastSeq: number;
  lastHash: string;
  checkpoints: number;
  /** position of the newest valid checkpoint; records after it are not yet covered by a signature */
  checkpointedSeq: number;
  problems: VerifyProblem[];
  ms: number;
  recordsPerSecond: number;
}

/**
 * rows per batch; up to PARALLEL batches are fetched at once (each on its own connection of the pool). Small
 * batches: the rows fetched and not yet hashed survive young-generation collections, and copying them was what the
 * walk's GC cost (38 % of its busy time with 5,000): 1,000 × 3 gave 160k records/s against 130k for 5,000 × 3, and
 * beat 500 × 3, 250 × 4, 1,000 × 2, 1,000 × 4 and 2,000 × 2 (bench/RESULTS.md).
 */
const BATCH = 1_000;
const PARALLEL = 3;
const hex = (b: Buffer) => b.toString('hex');

// column positions of a batch row (fetched as arrays: no object per row)
const SEQ = 0, HASH = 1, LINKED = 2, FIRST_PREV = 3, TEXT = 4;

/** every column as the text PostgreSQL sent: nothing for node-postgres to convert */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

/**
 * The rows at positions (from, to] as [seq, hash, linked, firstPrev, text]. PostgreSQL renders each row's hashed text
 * (RECORD_TEXT_SQL), so JavaScript only hashes it. Measured on 300,000 records: assembling the text from ten columns
 * here made the walk bound by node's CPU (string building, date formatting, garbage collection); rendered by
 * PostgreSQL, the work spreads over the backends of the parallel batches. The link is checked there too, against
 * the previous row's stored hash (`linked`: 't'/'f'), which the walk has already found equal to the hash it
 * computed; only a range's first row brings its prev_hash (`firstPrev`) to compare here. Measured: 15 % faster than
 * fetching every prev_hash and id (those of a finding are fetched when it is reported).
 */
function fetchBatch(q: Queryable, from: number, to: number): Promise<{ rows: (string | null)[][] }> {
  return q.query({
    name: 'audit_verify_range',
    rowMode: 'array',
    types: RAW_TEXT,
    text: `SELECT seq::text, encode(hash, 'hex'), prev_hash = lag(hash) OVER w,
                  CASE WHEN lag(hash) OVER w IS NULL THEN encode(prev_hash, 'hex') END, ${RECORD_TEXT_SQL}
           FROM audit_event WHERE seq > $1 AND seq <= $2 WINDOW w AS (ORDER BY seq) ORDER BY audit_event.seq`,
    values: [from, to],
  } as Parameters<Queryable['query']>[0]);
}

/** The first record at or after a position, in the batch row form (a range came back empty: what follows the gap). */
function firstFrom(q: Queryable, seq: number): Promise<{ rows: (string | null)[][] }> {
  return q.query({
    rowMode: 'array',
    types: RAW_TEXT,
    text: `SELECT seq::text, encode(hash, 'hex'), NULL, encode(prev_hash, 'hex'), ${RECORD_TEXT_SQL}
           FROM audit_event WHERE seq >= $1 ORDER BY audit_event.seq LIMIT 1`,
    values: [seq],
  } as Parameters<Queryable['query']>[0]);
}

/** id and stored prev_hash of the record at a position (for a finding's report). */
async function details(q: Queryable, seq: number): Promise<{ id: string; prev: string }> {
  const res = await q.query(`SELECT id, encode(prev_hash, 'hex') AS prev FROM audit_event WHERE seq = $1`, [seq]);
  return res.rows[0] ?? { id: '', prev: '' };
}

/**
 * Walks the whole chain in seq order (ranges of positions, up to PARALLEL fetched while the current one is
 * hashed), recomputing every hash from the stored record, and checks the signed checkpoints (the table's and any
 * kept elsewhere that are passed in). Reports OK, or the first broken record and every checkpoint problem.
 */
export async function verifyAuditChain(q: Queryable, keys: Map<string, KeyObject>, external: string[] = []): Promise<VerifyReport> {
  const started = Date.now();
  const problems: VerifyProblem[] = [];
  // checkpoints: signature first, then (during the walk) the chain's hash at their position
  const cpRows = (await q.query(`SELECT n::text AS n, seq::text AS seq, encode(hash, 'hex') AS hash, jws FROM audit_checkpoint ORDER BY audit_checkpoint.n`)).rows;
  const expectAt = new Map<number, { hash: string; label: string }[]>();
  let checkpoints = 0;
  const addCheckpoint = (jws: string, label: string, row?: { seq: string; hash: string }) => {
    const { payload, error } = verifyCheckpoint(jws, keys);
    if (!payload) {
      problems.push({ kind: 'checkpoint-forged', position: Number(row?.seq ?? 0), message: `${label}: ${error}` });
      return;
    }
    if (row && (Number(row.seq) !== payload.seq || row.hash !== payload.hash)) {
      problems.push({ kind: 'checkpoint-forged', position: Number(row.seq), expected: payload.hash, stored: row.hash, message: `${label}: its columns (seq ${row.seq}) differ from what was signed (seq ${payload.seq})` });
      return;
    }
    checkpoints++;
    const list = expectAt.get(payload.seq) ?? [];
    list.push({ hash: payload.hash, label: `${label} (signed ${payload.time})` });
    expectAt.set(payload.seq, list);
  };
  for (const row of cpRows) addCheckpoint(row.jws, `checkpoint #${row.n}`, row);
  external.forEach((jws, i) => addCheckpoint(jws, `given checkpoint ${i + 1}`));
  const maxCheckpointSeq = Math.max(0, ...expectAt.keys());

  let prevHex = hex(GENESIS_HASH);
  let expectedSeq = 1;
  let records = 0;
  let checkpointedSeq = 0;
  let broken = false;
  // positions are consecutive from 1, so batches are ranges of positions and several can be fetched at once; the
  // walk covers the chain as it was when it started (records appended meanwhile are left for the next run)
  const end = Number((await q.query('SELECT coalesce(max(seq), 0)::text AS n FROM audit_event')).rows[0].n);
  const hasher = new Hasher();
  const inFlight: Promise<{ rows: (string | null)[][] }>[] = [];
  let nextFrom = 0;
  const fill = () => {
    while (inFlight.length < PARALLEL && nextFrom < end) {
      inFlight.push(fetchBatch(q, nextFrom, Math.min(nextFrom + BATCH, end)));
      nextFrom += BATCH;
    }
  };
  fill();
  walk: while (inFlight.length) {
    let rows = (await inFlight.shift()!).rows;
    if (!rows.length) {
      // a whole range is missing: the first record present after it is the finding (ranges are not walked on:
      // a forged far position must not make the walk query billions of empty ranges)
      rows = (await firstFrom(q, expectedSeq)).rows;
      if (!rows.length) break;
    } else fill();
    for (const r of rows) {
      const seq = Number(r[SEQ]);
      if (seq !== expectedSeq) {
        const { id, prev } = await details(q, seq);
        problems.push({
          kind: 'missing-record',
          position: expectedSeq,
          id,
          expected: prevHex,
          stored: prev,
          message: `record${seq - expectedSeq > 1 ? `s ${expectedSeq}..${seq - 1} are` : ` ${expectedSeq} is`} missing (the next present is ${seq}, AuditEvent/${id})`,
        });
        broken = true;
        break walk;
      }
      if (r[LINKED] === null ? r[FIRST_PREV] !== prevHex : r[LINKED] !== 't') {
        const { id, prev } = await details(q, seq);
        problems.push({ kind: 'broken-link', position: seq, id, expected: prevHex, stored: prev, message: `record ${seq} (AuditEvent/${id}) does not follow record ${seq - 1}: its previous hash differs` });
        broken = true;
        break walk;
      }
      const computed = hasher.link(prevHex, r[TEXT]!);
      if (computed !== r[HASH]) {
        const { id } = await details(q, seq);
        problems.push({ kind: 'hash-mismatch', position: seq, id, expected: computed, stored: r[HASH]!, message: `record ${seq} (AuditEvent/${id}) was altered: its content does not give its stored hash` });
        broken = true;
        break walk;
      }
      const signed = expectAt.get(seq);
      if (signed) {
        for (const cp of signed) {
          if (cp.hash === computed) checkpointedSeq = seq;
          else {
            const { id } = await details(q, seq);
            problems.push({ kind: 'checkpoint-mismatch', position: seq, id, expected: cp.hash, stored: computed, message: `${cp.label} signed another hash for record ${seq}: the chain was rewritten` });
          }
        }
      }
      prevHex = computed;
      expectedSeq = seq + 1;
      records++;
    }
  }
  await Promise.all(inFlight.map((p) => p.catch(() => undefined)));
  const lastSeq = expectedSeq - 1;
  if (!broken && maxCheckpointSeq > lastSeq) {
    problems.push({
      kind: 'tail-missing',
      position: lastSeq + 1,
      expected: [...(expectAt.get(maxCheckpointSeq) ?? [])].map((c) => c.hash)[0],
      message: `the chain ends at record ${lastSeq} but a signed checkpoint covers record ${maxCheckpointSeq}: records ${lastSeq + 1}..${maxCheckpointSeq} were removed`,
    });
  }
  const ms = Date.now() - started;
  return {
    ok: problems.length === 0,
    records,
    lastSeq,
    lastHash: prevHex,
    checkpoints,
    checkpointedSeq,
    problems,
    ms,
    recordsPerSecond: Math.round(records / Math.max(ms / 1000, 0.001)),
  };
}

/** One line per fact, for the CLI and logs. */
export function formatReport(r: VerifyReport): string {
  const lines = [
    r.ok ? `OK: ${r.records} records verified` : `BROKEN: ${r.problems.length} problem(s) after ${r.records} intact records`,
    `chain head: record ${r.lastSeq}, hash ${r.lastHash}`,
    `checkpoints: ${r.checkpoints} valid, newest covers record ${r.checkpointedSeq}${r.lastSeq > r.checkpointedSeq ? ` (${r.lastSeq - r.checkpointedSeq} newer records not yet checkpointed)` : ''}`,
    `${r.ms} ms, ${r.recordsPerSecond} records/s`,
  ];
  for (const p of r.problems) {
    lines.push(`- ${p.kind} at position ${p.position}${p.id ? ` (AuditEvent/${p.id})` : ''}: ${p.message}`);
    if (p.expected || p.stored) lines.push(`    expected ${p.expected ?? '-'}\n    stored   ${p.stored ?? '-'}`);
  }
  return lines.join('\n');
}
