import { blockingKeys } from './blocking-keys.js';
import { scorePair } from './fellegi-sunter.js';
import type { MatchingRules, SavedParameters } from './matching-rules.js';
import type { PatientFeatures } from './patient-features.js';

export interface EstimateOptions {
  /** random record pairs for u (the chance a level is reached by two different people) */
  randomPairs: number;
  /** most pairs per blocking key for m (EM over blocked pairs) */
  pairsPerKey: number;
  iterations: number;
  seed: number;
}

export interface Estimate {
  parameters: SavedParameters;
  /** estimated share of matches among the blocked pairs */
  lambda: number;
  blockedPairs: number;
  randomPairs: number;
}

/** Levels of every comparison for a pair (label, or undefined when a value is missing). */
function levelsOf(rules: MatchingRules, a: PatientFeatures, b: PatientFeatures): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of scorePair(rules, a, b).breakdown) if (o.level !== 'null') out.set(o.comparison, o.level);
  return out;
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * m/u estimation the way Splink does it: u from random record pairs (almost all of them are different people),
 * then m and the match share λ by expectation–maximisation over the pairs that share a blocking key, u held fixed.
 * Levels never seen keep a small floor so no weight becomes infinite.
 */
export function estimateParameters(rules: MatchingRules, records: PatientFeatures[], opts: EstimateOptions): Estimate {
  const random = rng(opts.seed);
  const counts = (pairs: Map<string, string>[], weights?: number[]) => {
    const c = new Map<string, number>();
    const totals = new Map<string, number>();
    pairs.forEach((p, i) => {
      const w = weights ? weights[i] : 1;
      for (const [comp, level] of p) {
        c.set(`${comp}/${level}`, (c.get(`${comp}/${level}`) ?? 0) + w);
        totals.set(comp, (totals.get(comp) ?? 0) + w);
      }
    });
    return (comp: string, level: string, floor: number) => Math.max(((c.get(`${comp}/${level}`) ?? 0) + floor) / ((totals.get(comp) ?? 0) + floor * 10), floor);
  };

  const randomPairs: Map<string, string>[] = [];
  if (records.length > 1) {
    for (let i = 0; i < opts.randomPairs; i++) {
      const a = Math.floor(random() * records.length);
      let b = Math.floor(random() * records.length);
      if (b === a) b = (b + 1) % records.length;
      randomPairs.push(levelsOf(rules, records[a], records[b]));
    }
  }
  const uOf = counts(randomPairs);

  const u = new Map<string, number>();
  for (const c of rules.comparisons) {
    // a comparison no random pair had values for keeps the rules file's u
    const seen = randomPairs.some((p) => p.has(c.name));
    for (const l of c.levels) u.set(`${c.name}/${l.label}`, seen ? uOf(c.name, l.label, 1e-6) : l.u);
  }

  // m per blocking rule, leaving out the comparisons of the fields the rule blocks on (pairs that share a blocking
  // key agree on those fields whether they match or not); a comparison's m is the mean over the rules that could see it
  const mSum = new Map<string, number>();
  const mRules = new Map<string, number>();
  const swapped = new Set(rules.swappedNames?.comparisons ?? []);
  let blockedTotal = 0;
  let lambdaSum = 0;
  let lambdaRules = 0;
  for (const rule of rules.blocking) {
    const fields = new Set(rule.parts.map((p) => /(\w+)\)?$/.exec(p)![1]));
    const usable = rules.comparisons.filter((c) => !fields.has(c.field) && !(swapped.has(c.name) && rules.comparisons.some((o) => swapped.has(o.name) && fields.has(o.field))));
    const byKey = new Map<string, number[]>();
    records.forEach((r, i) => {
      for (const k of blockingKeys({ ...rules, blocking: [rule] }, r)) {
        const list = byKey.get(k.value) ?? [];
        if (list.length < opts.pairsPerKey) list.push(i);
        byKey.set(k.value, list);
      }
    });
    const seen = new Set<string>();
    const blocked: Map<string, string>[] = [];
    for (const list of byKey.values()) {
      for (let x = 0; x < list.length; x++) {
        for (let y = x + 1; y < list.length; y++) {
          const id = `${list[x]},${list[y]}`;
          if (seen.has(id)) continue;
          seen.add(id);
          const levels = levelsOf(rules, records[list[x]], records[list[y]]);
          for (const k of [...levels.keys()]) if (!usable.some((c) => c.name === k)) levels.delete(k);
          blocked.push(levels);
        }
      }
    }
    if (blocked.length < 10 || !usable.length) continue;
    blockedTotal += blocked.length;
    const m = new Map<string, number>();
    for (const c of usable) for (const l of c.levels) m.set(`${c.name}/${l.label}`, l.m);
    let lambda = 0.1;
    for (let it = 0; it < opts.iterations; it++) {
      const p = blocked.map((pair) => {
        let lm = Math.log(lambda);
        let lu = Math.log(1 - lambda);
        for (const [comp, level] of pair) {
          lm += Math.log(m.get(`${comp}/${level}`)!);
          lu += Math.log(u.get(`${comp}/${level}`)!);
        }
        return 1 / (1 + Math.exp(lu - lm));
      });
      lambda = Math.min(Math.max(p.reduce((s, x) => s + x, 0) / p.length, 1e-6), 1 - 1e-6);
      const mOf = counts(blocked, p);
      for (const c of usable) for (const l of c.levels) m.set(`${c.name}/${l.label}`, mOf(c.name, l.label, 1e-4));
    }
    lambdaSum += lambda;
    lambdaRules++;
    for (const c of usable) {
      if (!blocked.some((b) => b.has(c.name))) continue; // no pair had values to compare
      for (const l of c.levels) {
        const key = `${c.name}/${l.label}`;
        mSum.set(key, (mSum.get(key) ?? 0) + m.get(key)!);
        mRules.set(key, (mRules.get(key) ?? 0) + 1);
      }
    }
  }
  const m = new Map<string, number>();
  for (const c of rules.comparisons) for (const l of c.levels) {
    const key = `${c.name}/${l.label}`;
    m.set(key, mRules.get(key) ? mSum.get(key)! / mRules.get(key)! : l.m);
  }
  const lambda = lambdaRules ? lambdaSum / lambdaRules : 0;
  const blocked = { length: blockedTotal };
  const parameters: SavedParameters = {};
  for (const c of rules.comparisons) {
    for (const l of c.levels) {
      const key = `${c.name}/${l.label}`;
      parameters[key] = { m: Math.min(m.get(key)!, 0.999999), u: Math.min(u.get(key)!, 0.999999) };
    }
  }
  return { parameters, lambda, blockedPairs: blocked.length, randomPairs: randomPairs.length };
}
