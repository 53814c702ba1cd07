import jaroWinkler from 'talisman/metrics/jaro-winkler.js';
import damerauLevenshtein from 'talisman/metrics/damerau-levenshtein.js';
import type { ComparisonLevel, ComparisonRule, MatchingRules } from './matching-rules.js';
import { areNicknames } from './nicknames.js';
import type { PatientFeatures } from './patient-features.js';

/** One comparison's outcome in a score breakdown: the level reached and the evidence it gave (log2 Bayes factor). */
export interface ComparisonOutcome {
  comparison: string;
  /** level label, or "null" when either record has no value (no evidence either way) */
  level: string;
  weight: number;
}

export interface MatchScore {
  /** log2 of the posterior match odds: prior + the sum of the comparisons' weights */
  weight: number;
  /** match probability in [0, 1] */
  probability: number;
  breakdown: ComparisonOutcome[];
  /** given and family names were compared crosswise */
  swappedNames?: boolean;
}

/** u-probability of an exact agreement on this value of this comparison's field (term frequency), if known. */
export type TermFrequencyU = (comparison: ComparisonRule, value: string) => number | undefined;

/** One value pair under test; Jaro–Winkler is computed once however many levels ask for it. */
class ValuePair {
  private jw?: number;
  constructor(
    readonly a: string,
    readonly b: string,
  ) {}
  jaroWinkler(): number {
    return (this.jw ??= jaroWinkler(this.a, this.b));
  }
}

function passes(level: ComparisonLevel, pair: ValuePair): boolean {
  const { a, b } = pair;
  switch (level.test) {
    case 'exact':
      return a === b;
    case 'nickname':
      return areNicknames(a, b);
    case 'jaroWinkler':
      return pair.jaroWinkler() >= (level.threshold ?? 1);
    case 'dateTypo':
      return dateTypo(a, b);
    case 'sameMonth':
      return a.length >= 7 && b.length >= 7 && a.slice(0, 7) === b.slice(0, 7);
    case 'sameYear':
      return a.slice(0, 4) === b.slice(0, 4);
    case 'tokenSimilarity':
      return false; // set-valued, see tokenSimilarity()
    case 'else':
      return true;
  }
}

/** One mistyped or transposed digit, or day and month swapped (full dates only). */
function dateTypo(a: string, b: string): boolean {
  if (a.length !== 10 || b.length !== 10) return false;
  if (a.slice(0, 4) === b.slice(0, 4) && a.slice(5, 7) === b.slice(8, 10) && a.slice(8, 10) === b.slice(5, 7)) return true;
  return damerauLevenshtein(a.replace(/-/g, ''), b.replace(/-/g, '')) <= 1;
}

/**
 * Soft Dice coefficient of two token sets: tokens pair up when they are equal or nearly so (Jaro–Winkler ≥ 0.9,
 * which absorbs typos such as "ircuit"/"circuit"), each token used once.
 */
export function tokenSimilarity(a: string[], b: string[]): number {
  if (!a.length || !b.length) return 0;
  // equal tokens pair up first (cheap); Jaro–Winkler only among the rest
  const rest = new Map<string, number>();
  for (const y of b) rest.set(y, (rest.get(y) ?? 0) + 1);
  let matched = 0;
  const left: string[] = [];
  for (const x of a) {
    const n = rest.get(x);
    if (n) {
      matched++;
      if (n === 1) rest.delete(x);
      else rest.set(x, n - 1);
    } else left.push(x);
  }
  const others = [...rest].flatMap(([y, n]) => Array<string>(n).fill(y));
  matched += softMatches(left, others);
  return (2 * matched) / (a.length + b.length);
}

function softMatches(a: string[], b: string[]): number {
  if (!a.length || !b.length) return 0;
  const used = new Array(b.length).fill(false);
  let matched = 0;
  for (const x of a) {
    let best = -1;
    let bestScore = 0.9;
    for (let j = 0; j < b.length; j++) {
      if (used[j]) continue;
      const s = x === b[j] ? 1 : jaroWinkler(x, b[j]);
      if (s >= bestScore) {
        best = j;
        bestScore = s;
        if (s === 1) break;
      }
    }
    if (best >= 0) {
      used[best] = true;
      matched++;
    }
  }
  return matched;
}

function systemOf(v: string): string {
  return v.slice(0, v.indexOf('|'));
}

/** The first level (best evidence) any pair of values reaches; undefined when there is nothing to compare. */
function compareValues(c: ComparisonRule, a: string[] | undefined, b: string[] | undefined, tf?: TermFrequencyU): { level: ComparisonLevel; u: number } | undefined {
  if (!a?.length || !b?.length) return undefined;
  if (c.levels[0].test === 'tokenSimilarity') {
    const s = tokenSimilarity(a, b);
    const level = c.levels.find((l) => l.test === 'else' || (l.test === 'tokenSimilarity' && s >= (l.threshold ?? 1)))!;
    return { level, u: level.u };
  }
  let best = c.levels.length;
  let bestValue = '';
  let compared = false;
  for (const x of a) {
    for (const y of b) {
      if (c.sameSystemOnly && systemOf(x) !== systemOf(y)) continue;
      compared = true;
      const pair = new ValuePair(x, y);
      for (let i = 0; i < best; i++) {
        if (passes(c.levels[i], pair)) {
          best = i;
          bestValue = x;
          break;
        }
      }
      if (best === 0) break;
    }
    if (best === 0) break;
  }
  if (!compared) return undefined;
  const level = c.levels[best];
  const u = c.termFrequency && level.test === 'exact' && tf ? (tf(c, bestValue) ?? level.u) : level.u;
  return { level, u };
}

function outcomeOf(c: ComparisonRule, a: PatientFeatures, b: PatientFeatures, aField: string, bField: string, tf?: TermFrequencyU): ComparisonOutcome {
  const r = compareValues(c, a[aField], b[bField], tf);
  if (!r) return { comparison: c.name, level: 'null', weight: 0 };
  return { comparison: c.name, level: r.level.label, weight: Math.log2(r.level.m / r.u) };
}

const sum = (xs: ComparisonOutcome[]) => xs.reduce((s, o) => s + o.weight, 0);

/**
 * Fellegi–Sunter score of a record pair: every comparison contributes log2(m/u) of the level reached (term-frequency
 * adjusted u for exact agreement where the rule asks for it; nothing when a value is missing). Given and family
 * names are also compared crosswise, and the better reading wins, less a small penalty for the swap.
 */
export function scorePair(rules: MatchingRules, a: PatientFeatures, b: PatientFeatures, tf?: TermFrequencyU): MatchScore {
  const swap = rules.swappedNames;
  const breakdown: ComparisonOutcome[] = [];
  let swappedNames = false;
  for (const c of rules.comparisons) {
    if (swap && swap.comparisons.includes(c.name)) continue;
    breakdown.push(outcomeOf(c, a, b, c.field, c.field, tf));
  }
  if (swap) {
    const [c1, c2] = swap.comparisons.map((n) => rules.comparisons.find((c) => c.name === n)!);
    const aligned = [outcomeOf(c1, a, b, c1.field, c1.field, tf), outcomeOf(c2, a, b, c2.field, c2.field, tf)];
    const crossed = [outcomeOf(c1, a, b, c1.field, c2.field, tf), outcomeOf(c2, a, b, c2.field, c1.field, tf)];
    if (sum(crossed) - swap.penalty > sum(aligned) && crossed.every((o) => o.level !== 'null')) {
      swappedNames = true;
      crossed[0].weight -= swap.penalty;
      breakdown.unshift(...crossed);
    } else breakdown.unshift(...aligned);
  }
  const weight = rules.priorMatchLog2Odds + sum(breakdown);
  const probability = 1 / (1 + Math.pow(2, -weight));
  return { weight, probability, breakdown, ...(swappedNames ? { swappedNames } : {}) };
}
