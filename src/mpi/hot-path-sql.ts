import type { Tx } from '../modules/database/db.js';
import type { BlockingKey } from './blocking-keys.js';
import type { ComparisonRule, MatchingRules } from './matching-rules.js';
import type { CandidateRecord, MpiLink } from './mpi-repository.js';
import type { PatientFeatures } from './patient-features.js';
import type { TermFrequencyU } from './fellegi-sunter.js';

/**
 * The statements matching runs on every Patient write, shaped to keep round trips few (each one costs about a
 * millisecond): the source's previous state; its record, keys and term counts saved together with the candidate
 * retrieval; its links written in one statement; a golden record's survivorship inputs in one.
 */

function toLink(r: any): MpiLink {
  return { sourceId: r.source_id, goldenId: r.golden_id, state: r.state, origin: r.origin, score: r.score, breakdown: r.breakdown, updated: r.updated };
}

/** Term-count changes of replacing `old` by `now` ('' | '' counts records). */
function termDeltas(rules: MatchingRules, old: PatientFeatures | undefined, now: PatientFeatures): Map<string, number> {
  const d = new Map<string, number>();
  const add = (f: PatientFeatures | undefined, sign: number) => {
    if (!f) return;
    d.set('\u0000', (d.get('\u0000') ?? 0) + sign);
    for (const c of rules.comparisons) if (c.termFrequency) for (const v of f[c.field] ?? []) d.set(`${c.field}\u0000${v}`, (d.get(`${c.field}\u0000${v}`) ?? 0) + sign);
  };
  add(old, -1);
  add(now, +1);
  return d;
}

export interface SourceState {
  /** features stored before this write (undefined for a new source) */
  old?: PatientFeatures;
  /** links the record is the source of */
  links: MpiLink[];
  /** whether other sources share its golden record */
  goldenShared: boolean;
  candidates: CandidateRecord[];
  tf: TermFrequencyU;
}

/**
 * ONE statement per source write: reads its previous state (old features, links), saves its features, blocking keys
 * and term counts (old values out, new in — computed in SQL from the stored features), and retrieves its candidates
 * (every source sharing a blocking key, at most maxCandidatesPerKey per key, with its golden record) and the term
 * counts of its values. The statement sees the data as before its own changes; the counts are corrected here.
 * Term counts are upserted in (field, value) order, the order every writer uses (see MpiRepository.countTerms): the
 * total row ('', '') comes first, so whoever holds any count row holds it, and writers queue on it instead of
 * deadlocking (GROUP BY's hash order differed between statements: 7% of concurrent Bundle loads got 409s).
 */
export async function saveSourceAndFindCandidates(tx: Tx, rules: MatchingRules, id: string, features: PatientFeatures, keys: BlockingKey[]): Promise<SourceState> {
  const tfFields = [...new Set(rules.comparisons.filter((c) => c.termFrequency).map((c) => c.field))];
  const newTerms = tfFields.flatMap((f) => (features[f] ?? []).map((v) => [f, v]));
  const res = await tx.query({
    name: 'mpi_save_source',
    text: `WITH old AS (SELECT features FROM mpi_record WHERE patient_id = $1),
                terms AS (SELECT f, v, sum(n)::int8 AS n FROM (
                            SELECT '' AS f, '' AS v, 1 AS n
                            UNION ALL SELECT '', '', -1 FROM old
                            UNION ALL SELECT u.f, u.v, 1 FROM unnest($5::text[], $6::text[]) AS u(f, v)
                            UNION ALL SELECT t.f, jsonb_array_elements_text(coalesce(old.features -> t.f, '[]'::jsonb)), -1 FROM old, unnest($7::text[]) AS t(f)
                          ) x GROUP BY f, v HAVING sum(n) <> 0),
                r AS (INSERT INTO mpi_record (patient_id, features) VALUES ($1, $2::jsonb)
                      ON CONFLICT (patient_id) DO UPDATE SET features = EXCLUDED.features, updated = now()),
                dk AS (DELETE FROM mpi_key WHERE patient_id = $1),
                ik AS (INSERT INTO mpi_key (patient_id, kind, value) SELECT $1, * FROM unnest($3::text[], $4::text[])),
                tf AS (INSERT INTO mpi_term_frequency (field, value, count) SELECT f, v, n FROM terms ORDER BY f, v
                       ON CONFLICT (field, value) DO UPDATE SET count = greatest(mpi_term_frequency.count + EXCLUDED.count, 0)),
                c AS (SELECT DISTINCT m.patient_id FROM unnest($3::text[], $4::text[]) AS k(kind, value)
                      CROSS JOIN LATERAL (SELECT patient_id FROM mpi_key WHERE kind = k.kind AND value = k.value LIMIT $8) m
                      WHERE m.patient_id <> $1)
           SELECT (SELECT features FROM old) AS old,
                  (SELECT coalesce(json_agg(l), '[]'::json) FROM mpi_link l WHERE l.source_id = $1) AS links,
                  EXISTS (SELECT 1 FROM mpi_link mine JOIN mpi_link other ON other.golden_id = mine.golden_id AND other.state = 'MATCH' AND other.source_id <> $1
                          WHERE mine.source_id = $1 AND mine.state = 'MATCH') AS shared,
                  (SELECT coalesce(json_agg(json_build_object('p', c.patient_id, 'f', rec.features, 'g', l.golden_id)), '[]'::json)
                   FROM c JOIN mpi_record rec ON rec.patient_id = c.patient_id
                   JOIN mpi_link l ON l.source_id = c.patient_id AND l.state = 'MATCH') AS candidates,
                  (SELECT coalesce(json_agg(json_build_array(t.field, t.value, t.count)), '[]'::json) FROM mpi_term_frequency t
                   WHERE (t.field, t.value) IN (SELECT * FROM unnest($5::text[], $6::text[]) UNION ALL SELECT '', '')) AS counts`,
    values: [
      id,
      JSON.stringify(features),
      keys.map((k) => k.kind),
      keys.map((k) => k.value),
      newTerms.map((t) => t[0]),
      newTerms.map((t) => t[1]),
      tfFields,
      rules.maxCandidatesPerKey,
    ],
  });
  const row = res.rows[0];
  const old: PatientFeatures | undefined = row.old ?? undefined;
  const delta = termDeltas(rules, old, features);
  const counts = new Map<string, number>(row.counts.map(([f, v, n]: [string, string, string]) => [`${f}\u0000${v}`, Number(n)]));
  const after = (k: string) => (counts.get(k) ?? 0) + (delta.get(k) ?? 0);
  const total = after('\u0000');
  const c0 = rules.termFrequencyPseudoCount;
  const tf: TermFrequencyU = (c: ComparisonRule, value: string) => {
    const n = after(`${c.field}\u0000${value}`);
    return n > 0 ? (n + c0 * c.levels[0].u) / (total + c0) : undefined;
  };
  return {
    old,
    links: row.links.map(toLink),
    goldenShared: row.shared,
    candidates: row.candidates.map((c: any) => ({ patientId: c.p, goldenId: c.g, features: c.f })),
    tf,
  };
}

export interface NewLink {
  goldenId: string;
  state: 'MATCH' | 'POSSIBLE_MATCH';
  score: number | null;
  breakdown: unknown;
}

/**
 * A source's automatic links: its MATCH (registering the golden record when it is new) and POSSIBLE_MATCHes, after
 * removing the `stale` links (a previous MATCH elsewhere, automatic POSSIBLE_MATCHes no longer found) — one statement
 * when nothing is stale. The caller never passes a pair that has a MANUAL link.
 */
export async function writeSourceLinks(tx: Tx, id: string, links: NewLink[], stale: string[], newGolden: boolean): Promise<void> {
  // a separate statement: within one statement PostgreSQL does not order a CTE's DELETE before the INSERT's unique checks
  if (stale.length) await tx.query({ name: 'mpi_delete_stale_links', text: `DELETE FROM mpi_link WHERE source_id = $1 AND golden_id = ANY($2::text[])`, values: [id, stale] });
  const match = links.find((l) => l.state === 'MATCH')!;
  await tx.query({
    name: 'mpi_write_source_links',
    text: `WITH g AS (INSERT INTO mpi_golden (golden_id) SELECT $2 WHERE $7 ON CONFLICT (golden_id) DO NOTHING)
           INSERT INTO mpi_link (source_id, golden_id, state, origin, score, breakdown)
           SELECT $1, g, s, 'AUTO', sc, b::jsonb FROM unnest($3::text[], $4::text[], $5::float8[], $6::text[]) AS u(g, s, sc, b)
           ON CONFLICT (source_id, golden_id) DO UPDATE SET state = EXCLUDED.state, origin = EXCLUDED.origin, score = EXCLUDED.score,
             breakdown = EXCLUDED.breakdown, updated = now()`,
    values: [
      id,
      match.goldenId,
      links.map((l) => l.goldenId),
      links.map((l) => l.state),
      links.map((l) => l.score),
      links.map((l) => (l.breakdown ? JSON.stringify(l.breakdown) : null)),
      newGolden,
    ],
  });
}

/** Survivorship inputs of a golden record: its MATCH sources' content, its own current content, the records it replaces. */
export async function goldenInputs(tx: Tx, goldenId: string): Promise<{ sources: { id: string; resource: any; lastUpdated: string }[]; current?: any; replaces: string[] }> {
  const res = await tx.query({
    name: 'mpi_golden_inputs',
    text: `SELECT (SELECT coalesce(json_agg(json_build_object('id', r.id, 'resource', v.content, 'lu', (extract(epoch FROM r.last_updated) * 1000)::float8)), '[]'::json)
                   FROM mpi_link l JOIN resource r ON r.resource_type = 'Patient' AND r.id = l.source_id AND NOT r.deleted
                   JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
                   WHERE l.golden_id = $1 AND l.state = 'MATCH') AS sources,
                  (SELECT v.content FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
                   WHERE r.resource_type = 'Patient' AND r.id = $1 AND NOT r.deleted) AS current,
                  (SELECT coalesce(array_agg(source_id), '{}') FROM mpi_link WHERE golden_id = $1 AND state = 'REDIRECT') AS replaces`,
    values: [goldenId],
  });
  const row = res.rows[0];
  return {
    sources: row.sources.map((s: any) => ({ id: s.id, resource: s.resource, lastUpdated: new Date(s.lu).toISOString() })),
    current: row.current ?? undefined,
    replaces: row.replaces,
  };
}
