import type { MatchScore } from './fellegi-sunter.js';
import type { MatchingRules } from './matching-rules.js';

/** A golden record that came up as a candidate for a source, scored by its best-matching source record. */
export interface CandidateGolden {
  goldenId: string;
  /** the source record of that golden record that matched best */
  viaSourceId: string;
  score: MatchScore;
}

/** What automatic matching decides for one source record. */
export interface LinkDecision {
  /** the golden record to MATCH, or undefined for a new golden record */
  match?: CandidateGolden;
  /** below the match threshold but at or above the possible-match threshold: the review queue */
  possible: CandidateGolden[];
  /** other golden records also above the match threshold: they may be one person (POSSIBLE_DUPLICATE) */
  duplicates: CandidateGolden[];
}

/**
 * Thresholds on the match probability: at or above `match` → MATCH the best golden record (others above it are
 * flagged as possible duplicates of it); else at or above `possibleMatch` → a new golden record plus POSSIBLE_MATCH
 * links for review; else a new golden record. Golden records a reviewer rejected for this source are never offered.
 */
export function decideLinks(rules: MatchingRules, candidates: CandidateGolden[], rejected: Set<string>): LinkDecision {
  const ranked = candidates.filter((c) => !rejected.has(c.goldenId)).sort((a, b) => b.score.weight - a.score.weight);
  const matches = ranked.filter((c) => c.score.probability >= rules.thresholds.match);
  if (matches.length) return { match: matches[0], possible: [], duplicates: matches.slice(1) };
  return { possible: ranked.filter((c) => c.score.probability >= rules.thresholds.possibleMatch), duplicates: [] };
}

/** Golden record candidates from scored source records: the best score per golden record. */
export function bestPerGolden(scored: { sourceId: string; goldenId: string; score: MatchScore }[]): CandidateGolden[] {
  const best = new Map<string, CandidateGolden>();
  for (const s of scored) {
    const cur = best.get(s.goldenId);
    if (!cur || s.score.weight > cur.score.weight) best.set(s.goldenId, { goldenId: s.goldenId, viaSourceId: s.sourceId, score: s.score });
  }
  return [...best.values()];
}
