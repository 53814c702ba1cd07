import fs from 'node:fs';
import defaultRules from './mpi-rules.json' with { type: 'json' };

/** How a field's raw FHIRPath results are normalised before they are compared or blocked on. */
export type Normalizer = 'name' | 'date' | 'code' | 'identifier' | 'phone' | 'email' | 'postcode' | 'tokens';

/** Tests a comparison level can make; `else` always holds. */
export type LevelTest = 'exact' | 'nickname' | 'jaroWinkler' | 'dateTypo' | 'sameMonth' | 'sameYear' | 'tokenSimilarity' | 'else';

export interface FieldRule {
  name: string;
  fhirPath: string;
  normalize: Normalizer;
}

export interface ComparisonLevel {
  label: string;
  test: LevelTest;
  threshold?: number;
  /** P(level | same person) */
  m: number;
  /** P(level | different people) */
  u: number;
}

export interface ComparisonRule {
  name: string;
  field: string;
  /** exact agreement on a rare value weighs more than on a common one */
  termFrequency?: boolean;
  /** identifiers: only values of the same system are compared (different systems are no evidence) */
  sameSystemOnly?: boolean;
  levels: ComparisonLevel[];
}

export interface BlockingRule {
  name: string;
  /** field names, or `fn(field)` with fn one of nysiis, metaphone, year, initial */
  parts: string[];
  /** the parts are sorted, so a key survives a given/family swap */
  unordered?: boolean;
}

export interface MatchingRules {
  version: number;
  resourceType: 'Patient';
  fields: FieldRule[];
  comparisons: ComparisonRule[];
  swappedNames?: { comparisons: [string, string]; penalty: number };
  blocking: BlockingRule[];
  maxCandidatesPerKey: number;
  /** log2 of the prior odds that two records (sharing a blocking key) are the same person */
  priorMatchLog2Odds: number;
  /** match probability at or above `match` → MATCH, at or above `possibleMatch` → POSSIBLE_MATCH */
  thresholds: { match: number; possibleMatch: number };
  termFrequencyPseudoCount: number;
}

/** Saved m/u per comparison level (from `mpi estimate`), keyed `comparison/label`. */
export type SavedParameters = Record<string, { m: number; u: number }>;

const TESTS = new Set<LevelTest>(['exact', 'nickname', 'jaroWinkler', 'dateTypo', 'sameMonth', 'sameYear', 'tokenSimilarity', 'else']);
const NORMALIZERS = new Set<Normalizer>(['name', 'date', 'code', 'identifier', 'phone', 'email', 'postcode', 'tokens']);

/** Checks a rules document; throws with every problem found. */
export function validateRules(rules: MatchingRules): MatchingRules {
  const problems: string[] = [];
  const fields = new Set(rules.fields?.map((f) => f.name));
  for (const f of rules.fields ?? []) if (!NORMALIZERS.has(f.normalize)) problems.push(`field ${f.name}: unknown normalize "${f.normalize}"`);
  for (const c of rules.comparisons ?? []) {
    if (!fields.has(c.field)) problems.push(`comparison ${c.name}: unknown field "${c.field}"`);
    if (!c.levels?.length || c.levels.at(-1)!.test !== 'else') problems.push(`comparison ${c.name}: the last level must be "else"`);
    for (const l of c.levels ?? []) {
      if (!TESTS.has(l.test)) problems.push(`comparison ${c.name}/${l.label}: unknown test "${l.test}"`);
      if (!(l.m > 0 && l.m < 1 && l.u > 0 && l.u < 1)) problems.push(`comparison ${c.name}/${l.label}: m and u must be in (0, 1)`);
    }
  }
  for (const b of rules.blocking ?? []) {
    for (const p of b.parts) {
      const m = /^(?:(nysiis|metaphone|year|initial)\()?(\w+)\)?$/.exec(p);
      if (!m || !fields.has(m[2])) problems.push(`blocking ${b.name}: bad part "${p}"`);
    }
  }
  const t = rules.thresholds;
  if (!t || !(t.match > t.possibleMatch && t.possibleMatch > 0 && t.match < 1)) problems.push('thresholds: need 0 < possibleMatch < match < 1');
  if (problems.length) throw new Error(`MPI rules are invalid:\n  ${problems.join('\n  ')}`);
  return rules;
}

/** The rules in force: MPI_RULES_FILE when set, else the shipped defaults; saved m/u override the file's. */
export function loadRules(saved?: SavedParameters): MatchingRules {
  const file = process.env.MPI_RULES_FILE;
  const base: MatchingRules = structuredClone(file ? JSON.parse(fs.readFileSync(file, 'utf8')) : (defaultRules as unknown as MatchingRules));
  if (saved) {
    for (const c of base.comparisons) {
      for (const l of c.levels) {
        const s = saved[`${c.name}/${l.label}`];
        if (s && s.m > 0 && s.u > 0) Object.assign(l, { m: s.m, u: s.u });
      }
    }
  }
  return validateRules(base);
}
