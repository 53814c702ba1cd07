import { createHash } from 'node:crypto';
import type { Queryable, Tx } from '../modules/database/db.js';
import type { BlockingKey } from './blocking-keys.js';
import type { ComparisonOutcome } from './fellegi-sunter.js';
import type { ComparisonRule, MatchingRules, SavedParameters } from './matching-rules.js';
import type { PatientFeatures } from './patient-features.js';

export type LinkState = 'MATCH' | 'POSSIBLE_MATCH' | 'NO_MATCH' | 'POSSIBLE_DUPLICATE' | 'REDIRECT';
export type LinkOrigin = 'AUTO' | 'MANUAL';

export interface MpiLink {
  sourceId: string;
  goldenId: string;
  state: LinkState;
  origin: LinkOrigin;
  score: number | null;
  breakdown: { comparisons?: ComparisonOutcome[]; swappedNames?: boolean; sources?: string[] } | null;
  updated: string;
}

export interface CandidateRecord {
  patientId: string;
  goldenId: string;
  features: PatientFeatures;
}

function toLink(r: any): MpiLink {
  return {
    sourceId: r.source_id,
    goldenId: r.golden_id,
    state: r.state,
    origin: r.origin,
    score: r.score,
    breakdown: r.breakdown,
    updated: new Date(r.updated).toISOString(),
  };
}

const MPI_LOCK = 7363540;

/** A blocking key as a 64-bit advisory lock id (first 8 bytes of its SHA-1). */
function keyLockId(key: string): string {
  return createHash('sha1').update(key).digest().readBigInt64BE(0).toString();
}

/** Key of the term-frequency row holding the number of records. */
const TOTAL = ['', ''];

/** SQL of the master patient index's own tables (see the migration MasterPatientIndex). */
export class MpiRepository {
  /**
   * Review decisions and relinking take the MPI's advisory lock exclusively: no matching runs while they change
   * links. Matching takes it shared (see lockForMatching).
   */
  async lock(tx: Tx): Promise<void> {
    await tx.query({ name: 'mpi_lock', text: `SELECT pg_advisory_xact_lock(${MPI_LOCK})` });
  }

  /**
   * Matching takes the MPI lock shared plus one exclusive advisory lock per blocking key of the records being
   * matched (sorted, in one statement): two records that could be candidates of each other share a key, so one
   * waits for the other to commit and then sees it; unrelated Patient writes do not wait for each other.
   */
  async lockForMatching(tx: Tx, keys: string[]): Promise<void> {
    await tx.query({
      name: 'mpi_lock_keys',
      text: `SELECT pg_advisory_xact_lock_shared(${MPI_LOCK}), (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT unnest($1::int8[]) AS k ORDER BY 1) s) l)`,
      values: [keys.map(keyLockId)],
    });
  }

  async isGolden(q: Queryable, id: string): Promise<boolean> {
    const res = await q.query({ name: 'mpi_is_golden', text: `SELECT 1 FROM mpi_golden WHERE golden_id = $1`, values: [id] });
    return res.rows.length > 0;
  }

  async addGolden(tx: Tx, id: string): Promise<void> {
    await tx.query(`INSERT INTO mpi_golden (golden_id) VALUES ($1) ON CONFLICT (golden_id) DO UPDATE SET status = 'active'`, [id]);
  }

  async setGoldenStatus(tx: Tx, id: string, status: 'active' | 'redirected'): Promise<void> {
    await tx.query(`UPDATE mpi_golden SET status = $2 WHERE golden_id = $1`, [id, status]);
  }

  async removeGolden(tx: Tx, id: string): Promise<void> {
    await tx.query(`DELETE FROM mpi_golden WHERE golden_id = $1`, [id]);
    await tx.query(`DELETE FROM mpi_link WHERE golden_id = $1 OR source_id = $1`, [id]);
  }

  /** The stored features of a source (undefined when it is not indexed). */
  async features(q: Queryable, id: string): Promise<PatientFeatures | undefined> {
    const res = await q.query({ name: 'mpi_features', text: `SELECT features FROM mpi_record WHERE patient_id = $1`, values: [id] });
    return res.rows[0]?.features;
  }

  async removeRecord(tx: Tx, rules: MatchingRules, id: string): Promise<PatientFeatures | undefined> {
    const res = await tx.query(`DELETE FROM mpi_record WHERE patient_id = $1 RETURNING features`, [id]);
    await tx.query(`DELETE FROM mpi_key WHERE patient_id = $1`, [id]);
    const old = res.rows[0]?.features;
    await this.countTerms(tx, rules, old, -1);
    return old;
  }

  private async countTerms(tx: Tx, rules: MatchingRules, f: PatientFeatures | undefined, delta: number): Promise<void> {
    if (!f) return;
    const fields = [TOTAL[0]];
    const values = [TOTAL[1]];
    for (const c of rules.comparisons) {
      if (!c.termFrequency) continue;
      for (const v of f[c.field] ?? []) {
        fields.push(c.field);
        values.push(v);
      }
    }
    await tx.query({
      name: 'mpi_count_terms',
      // in (field, value) order, as the hot path does (a lock order shared by all writers: no deadlock)
      text: `INSERT INTO mpi_term_frequency (field, value, count)
             SELECT f, v, $3 * count(*) FROM unnest($1::text[], $2::text[]) AS u(f, v) GROUP BY f, v ORDER BY f, v
             ON CONFLICT (field, value) DO UPDATE SET count = greatest(mpi_term_frequency.count + $3, 0)`,
      values: [fields, values, delta],
    });
  }

  /** Term-frequency u for the values of a record: (count + c0·u0) / (records + c0), smoothed towards the rule's u. */
  async termFrequencies(q: Queryable, rules: MatchingRules, f: PatientFeatures): Promise<(c: ComparisonRule, value: string) => number | undefined> {
    const fields = [TOTAL[0]];
    const values = [TOTAL[1]];
    for (const c of rules.comparisons) if (c.termFrequency) for (const v of f[c.field] ?? []) (fields.push(c.field), values.push(v));
    const res = await q.query({
      name: 'mpi_term_frequencies',
      text: `SELECT field, value, count FROM mpi_term_frequency WHERE (field, value) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      values: [fields, values],
    });
    const counts = new Map<string, number>(res.rows.map((r: any) => [`${r.field}|${r.value}`, Number(r.count)]));
    const total = counts.get('|') ?? 0;
    const c0 = rules.termFrequencyPseudoCount;
    return (c, value) => {
      const n = counts.get(`${c.field}|${value}`);
      if (n === undefined) return undefined;
      return (n + c0 * c.levels[0].u) / (total + c0);
    };
  }

  /**
   * Candidate source records: every record sharing at least one blocking key (an OR of the blocking rules, at most
   * `maxCandidatesPerKey` per key), with the golden record each is matched to. One statement.
   */
  async candidates(q: Queryable, rules: MatchingRules, keys: BlockingKey[], excludeId: string | undefined): Promise<CandidateRecord[]> {
    if (!keys.length) return [];
    const res = await q.query({
      name: 'mpi_candidates',
      text: `WITH c AS (SELECT DISTINCT m.patient_id FROM unnest($1::text[], $2::text[]) AS k(kind, value)
                        CROSS JOIN LATERAL (SELECT patient_id FROM mpi_key WHERE kind = k.kind AND value = k.value LIMIT $3) m)
             SELECT c.patient_id, r.features, l.golden_id FROM c
             JOIN mpi_record r ON r.patient_id = c.patient_id
             JOIN mpi_link l ON l.source_id = c.patient_id AND l.state = 'MATCH'
             WHERE c.patient_id IS DISTINCT FROM $4`,
      values: [keys.map((k) => k.kind), keys.map((k) => k.value), rules.maxCandidatesPerKey, excludeId ?? null],
    });
    return res.rows.map((r: any) => ({ patientId: r.patient_id, goldenId: r.golden_id, features: r.features }));
  }

  /** Every link where the record is the source or the golden side. */
  async linksOf(q: Queryable, id: string): Promise<MpiLink[]> {
    const res = await q.query({ name: 'mpi_links_of', text: `SELECT * FROM mpi_link WHERE source_id = $1 OR golden_id = $1`, values: [id] });
    return res.rows.map(toLink);
  }

  async link(q: Queryable, sourceId: string, goldenId: string): Promise<MpiLink | undefined> {
    const res = await q.query(`SELECT * FROM mpi_link WHERE source_id = $1 AND golden_id = $2`, [sourceId, goldenId]);
    return res.rows[0] ? toLink(res.rows[0]) : undefined;
  }

  async matchedSources(q: Queryable, goldenId: string): Promise<string[]> {
    const res = await q.query({ name: 'mpi_matched_sources', text: `SELECT source_id FROM mpi_link WHERE golden_id = $1 AND state = 'MATCH' ORDER BY source_id`, values: [goldenId] });
    return res.rows.map((r: any) => r.source_id);
  }

  /** The golden record a source is matched to. */
  async goldenOf(q: Queryable, sourceId: string): Promise<string | undefined> {
    const res = await q.query({ name: 'mpi_golden_of', text: `SELECT golden_id FROM mpi_link WHERE source_id = $1 AND state = 'MATCH'`, values: [sourceId] });
    return res.rows[0]?.golden_id;
  }

  /** Sets the link of a pair (replacing its state); a MATCH replaces the source's other MATCH. */
  async setLink(tx: Tx, l: Omit<MpiLink, 'updated'>): Promise<void> {
    if (l.state === 'MATCH' || l.state === 'REDIRECT') {
      await tx.query(`DELETE FROM mpi_link WHERE source_id = $1 AND state = $2 AND golden_id <> $3`, [l.sourceId, l.state, l.goldenId]);
    }
    await tx.query({
      name: 'mpi_set_link',
      text: `INSERT INTO mpi_link (source_id, golden_id, state, origin, score, breakdown) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
             ON CONFLICT (source_id, golden_id) DO UPDATE SET state = EXCLUDED.state, origin = EXCLUDED.origin, score = EXCLUDED.score,
               breakdown = EXCLUDED.breakdown, updated = now()`,
      values: [l.sourceId, l.goldenId, l.state, l.origin, l.score, l.breakdown ? JSON.stringify(l.breakdown) : null],
    });
  }

  async deleteLink(tx: Tx, sourceId: string, goldenId: string): Promise<void> {
    await tx.query(`DELETE FROM mpi_link WHERE source_id = $1 AND golden_id = $2`, [sourceId, goldenId]);
  }

  async removeSourceLinks(tx: Tx, sourceId: string): Promise<void> {
    await tx.query(`DELETE FROM mpi_link WHERE source_id = $1`, [sourceId]);
  }

  /** The review queue: POSSIBLE_MATCH and POSSIBLE_DUPLICATE links, highest score first. */
  async reviewQueue(q: Queryable, count: number, offset: number): Promise<MpiLink[]> {
    const res = await q.query(
      `SELECT * FROM mpi_link WHERE state IN ('POSSIBLE_MATCH', 'POSSIBLE_DUPLICATE') ORDER BY score DESC NULLS LAST, source_id, golden_id LIMIT $1 OFFSET $2`,
      [count, offset],
    );
    return res.rows.map(toLink);
  }

  async savedParameters(q: Queryable): Promise<SavedParameters> {
    const res = await q.query(`SELECT key, m, u FROM mpi_parameter`);
    return Object.fromEntries(res.rows.map((r: any) => [r.key, { m: r.m, u: r.u }]));
  }
}

/** Current content of Patients (source records for survivorship, golden records for $match), in one statement. */
export async function readPatients(q: Queryable, ids: string[]): Promise<{ id: string; resource: any; lastUpdated: string }[]> {
  if (!ids.length) return [];
  const res = await q.query({
    name: 'mpi_read_patients',
    text: `SELECT r.id, v.content, (extract(epoch FROM r.last_updated) * 1000)::float8 AS lu_ms
           FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
           WHERE r.resource_type = 'Patient' AND r.id = ANY($1::text[]) AND NOT r.deleted`,
    values: [ids],
  });
  return res.rows.map((r: any) => ({ id: r.id, resource: r.content, lastUpdated: new Date(r.lu_ms).toISOString() }));
}
