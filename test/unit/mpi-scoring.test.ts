import { describe, expect, it } from 'vitest';
import { blockingKeys } from '../../src/mpi/blocking-keys.js';
import { scorePair, tokenSimilarity } from '../../src/mpi/fellegi-sunter.js';
import { loadRules, validateRules } from '../../src/mpi/matching-rules.js';
import { areNicknames } from '../../src/mpi/nicknames.js';
import { extractFeatures } from '../../src/mpi/patient-features.js';

const rules = loadRules();
const features = (p: any) => extractFeatures(rules, { resourceType: 'Patient', ...p });
const level = (s: ReturnType<typeof scorePair>, name: string) => s.breakdown.find((o) => o.comparison === name)!.level;

describe('MPI scoring (Fellegi–Sunter)', () => {
  const base = { name: [{ family: 'Colegate', given: ['Jett'] }], birthDate: '1902-11-19', address: [{ line: ['55 Hampton Circuit'], city: 'St Albans', postalCode: '6011' }] };

  it('extracts normalised features by FHIRPath', () => {
    const f = features({ ...base, name: [{ family: "O'Brien-Smith", given: ['Zoë'] }], telecom: [{ system: 'phone', value: '+61 (02) 9999-1234' }], identifier: [{ system: 'urn:x', value: ' 12 34 ' }] });
    expect(f.family).toEqual(['obriensmith']);
    expect(f.given).toEqual(['zoe']);
    expect(f.phone).toEqual(['299991234']);
    expect(f.identifier).toEqual(['urn:x|1234']);
    expect(f.address).toEqual(['55', 'albans', 'circuit', 'hampton', 'st']);
  });

  it('orders comparison levels: exact, Jaro–Winkler bands, else; dates: typo, same month, same year', () => {
    const a = features(base);
    expect(level(scorePair(rules, a, features(base)), 'family')).toBe('exact');
    expect(level(scorePair(rules, a, features({ ...base, name: [{ family: 'Colegatye', given: ['Jett'] }] })), 'family')).toBe('jw>=0.92');
    expect(level(scorePair(rules, a, features({ ...base, name: [{ family: 'Zilm', given: ['Jett'] }] })), 'family')).toBe('else');
    expect(level(scorePair(rules, a, features({ ...base, birthDate: '1902-12-19' })), 'birthDate')).toBe('typo');
    expect(level(scorePair(rules, a, features({ ...base, birthDate: '1902-19-11'.replace('19-11', '11-02') })), 'birthDate')).toBe('same-month');
    expect(level(scorePair(rules, a, features({ ...base, birthDate: '1902-03-01' })), 'birthDate')).toBe('same-year');
    expect(level(scorePair(rules, features({ birthDate: '1980-05-07' }), features({ birthDate: '1980-07-05' })), 'birthDate')).toBe('typo'); // day/month swapped
  });

  it('gives no evidence for missing values, and none for identifiers of different systems', () => {
    const s = scorePair(rules, features({ identifier: [{ system: 'urn:a', value: '1' }] }), features({ identifier: [{ system: 'urn:b', value: '2' }], birthDate: '1970-01-01' }));
    expect(s.breakdown.every((o) => o.level === 'null' && o.weight === 0)).toBe(true);
    expect(s.weight).toBe(rules.priorMatchLog2Odds);
  });

  it('reads swapped given and family names crosswise, and knows nicknames', () => {
    const swapped = scorePair(rules, features(base), features({ ...base, name: [{ family: 'Jett', given: ['Colegate'] }] }));
    expect(swapped.swappedNames).toBe(true);
    expect(level(swapped, 'family')).toBe('exact');
    expect(swapped.probability).toBeGreaterThan(0.99);
    expect(areNicknames('william', 'bill')).toBe(true);
    expect(areNicknames('william', 'robert')).toBe(false);
    expect(level(scorePair(rules, features({ name: [{ given: ['Elizabeth'] }] }), features({ name: [{ given: ['Betty'] }] })), 'given')).toBe('nickname');
  });

  it('weighs agreement on a rare name more than on a common one (term frequencies)', () => {
    const a = features(base);
    const family = rules.comparisons.find((c) => c.name === 'family')!;
    const common = scorePair(rules, a, a, (c, v) => (c === family ? 0.01 : undefined));
    const rare = scorePair(rules, a, a, (c, v) => (c === family ? 0.00001 : undefined));
    expect(rare.breakdown.find((o) => o.comparison === 'family')!.weight).toBeGreaterThan(common.breakdown.find((o) => o.comparison === 'family')!.weight + 9);
  });

  it('measures address similarity on tokens, typos included', () => {
    expect(tokenSimilarity(['55', 'hampton', 'circuit'], ['55', 'hamptpn', 'circuit'])).toBe(1);
    expect(tokenSimilarity(['55', 'hampton', 'circuit'], ['55', 'hampton', 'street'])).toBeCloseTo(2 / 3);
    expect(tokenSimilarity(['1', 'a'], ['2', 'b'])).toBe(0);
  });

  it('makes blocking keys that survive a given/family swap', () => {
    const k1 = blockingKeys(rules, features(base)).filter((k) => k.kind === 'nn');
    const k2 = blockingKeys(rules, features({ name: [{ family: 'Jett', given: ['Colegate'] }] })).filter((k) => k.kind === 'nn');
    expect(k1.length).toBeGreaterThan(0);
    expect(k2).toEqual(k1);
  });

  it('rejects invalid rules', () => {
    const bad = structuredClone(rules);
    bad.comparisons[0].levels.pop();
    bad.thresholds = { match: 0.1, possibleMatch: 0.5 };
    expect(() => validateRules(bad)).toThrow(/last level must be "else"[\s\S]*thresholds/);
  });
});
