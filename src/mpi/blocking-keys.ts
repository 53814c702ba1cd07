import doubleMetaphone from 'talisman/phonetics/double-metaphone.js';
import nysiis from 'talisman/phonetics/nysiis.js';
import type { BlockingRule, MatchingRules } from './matching-rules.js';
import type { PatientFeatures } from './patient-features.js';

/** A blocking key: records sharing one (same kind and value) are compared. */
export interface BlockingKey {
  kind: string;
  value: string;
}

/** Most keys one rule may produce for one record (multi-valued fields multiply). */
const MAX_KEYS_PER_RULE = 16;

function partValues(part: string, f: PatientFeatures): string[] {
  const m = /^(?:(nysiis|metaphone|year|initial)\()?(\w+)\)?$/.exec(part)!;
  const values = f[m[2]] ?? [];
  const out = new Set<string>();
  for (const v of values) {
    switch (m[1]) {
      case undefined:
        out.add(v);
        break;
      case 'nysiis':
        if (v) out.add(nysiis(v));
        break;
      case 'metaphone': {
        const [primary, secondary] = doubleMetaphone(v);
        if (primary) out.add(primary);
        if (secondary && secondary !== primary) out.add(secondary);
        break;
      }
      case 'year':
        if (/^\d{4}/.test(v)) out.add(v.slice(0, 4));
        break;
      case 'initial':
        if (v) out.add(v[0]);
        break;
    }
  }
  return [...out].filter(Boolean);
}

function keysOf(rule: BlockingRule, f: PatientFeatures): string[] {
  let combos: string[][] = [[]];
  for (const part of rule.parts) {
    const values = partValues(part, f);
    if (!values.length) return []; // a rule needs every part
    combos = combos.flatMap((c) => values.map((v) => [...c, v])).slice(0, MAX_KEYS_PER_RULE);
  }
  return [...new Set(combos.map((c) => (rule.unordered ? [...c].sort() : c).join('|')))];
}

/** Every blocking key of a record: the union over the rules (candidate retrieval is an OR of the rules). */
export function blockingKeys(rules: MatchingRules, f: PatientFeatures): BlockingKey[] {
  return rules.blocking.flatMap((rule) => keysOf(rule, f).map((value) => ({ kind: rule.name, value })));
}
