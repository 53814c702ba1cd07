import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../modules/database/db.js';
import { chainHashHex, GENESIS_HASH } from './canonical-json.js';
import { recordTextOf } from './audit-record.js';
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

/** rows per keyset batch: two batches in memory at once stay small next to the hub's 256 MB heap */
const BATCH = 5_000;
const hex = (b: Buffer) => b.toString('hex');

// column positions of a batch row (fetched as arrays: no object per row)
const SEQ = 0, PREV = 1, HASH = 2, CONTENT = 3, ID = 4, RECORDED = 5, PATIENTS = 6, AGENTS = 7, ENTITIES = 8, REQUEST = 9;

function fetchBatch(q: Queryable, after: number): Promise<{ rows: any[][] }> {
  return q.query({
    name: 'audit_verify_batch',
    rowMode: 'array',
    // everything as text, rendered by PostgreSQL as the hashed record has it: nothing to parse here
    text: `SELECT seq::text AS seq, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash, content, id,
                  to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded,
                  array_to_json(patients)::text AS patients, array_to_json(agents)::text AS agents,
                  array_to_json(entities)::text AS entities, request_id
           FROM audit_event WHERE seq > $1 ORDER BY audit_event.seq LIMIT $2`,
    values: [after, BATCH],
  } as Parameters<Queryable['query']>[0]);
}

/**
 * Walks the whole chain in seq order (keyset batches, the next one fetched while this one is hashed), recomputing
 * every hash from the stored record, and checks the signed checkpoints (the table's and any kept elsewhere that are
 * passed in). Reports OK, or the first broken record and every checkpoint problem.
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
  let pending = fetchBatch(q, 0);
  walk: for (;;) {
    const rows = (await pending).rows;
    if (!rows.length) break;
    pending = fetchBatch(q, Number(rows[rows.length - 1][SEQ]));
    for (const r of rows) {
      const seq = Number(r[SEQ]);
      const id: string = r[ID];
      if (seq !== expectedSeq) {
        problems.push({
          kind: 'missing-record',
          position: expectedSeq,
          id,
          expected: prevHex,
          stored: r[PREV],
          message: `record${seq - expectedSeq > 1 ? `s ${expectedSeq}..${seq - 1} are` : ` ${expectedSeq} is`} missing (the next present is ${seq}, AuditEvent/${id})`,
        });
        broken = true;
        break walk;
      }
      if (prevHex !== r[PREV]) {
        problems.push({ kind: 'broken-link', position: seq, id, expected: prevHex, stored: r[PREV], message: `record ${seq} (AuditEvent/${id}) does not follow record ${seq - 1}: its previous hash differs` });
        broken = true;
        break walk;
      }
      const computed = chainHashHex(prevHex, recordTextOf(seq, r[CONTENT], id, r[RECORDED], r[PATIENTS], r[AGENTS], r[ENTITIES], r[REQUEST]));
      if (computed !== r[HASH]) {
        problems.push({ kind: 'hash-mismatch', position: seq, id, expected: computed, stored: r[HASH], message: `record ${seq} (AuditEvent/${id}) was altered: its content does not give its stored hash` });
        broken = true;
        break walk;
      }
      const signed = expectAt.get(seq);
      if (signed) {
        for (const cp of signed) {
          if (cp.hash !== computed) problems.push({ kind: 'checkpoint-mismatch', position: seq, id, expected: cp.hash, stored: computed, message: `${cp.label} signed another hash for record ${seq}: the chain was rewritten` });
          else checkpointedSeq = seq;
        }
      }
      prevHex = computed;
      expectedSeq = seq + 1;
      records++;
    }
  }
  await pending.catch(() => undefined);
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
