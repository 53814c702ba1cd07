import { describe, expect, it } from 'vitest';
import { prefixUpperBound } from '../../src/fhir/search/query/conditions/leaf-conditions.js';
import { extraSettings } from '../../src/modules/database/embedded-postgres.js';

describe('string prefix as an index range', () => {
  it('bounds every string with the prefix, and nothing else, in code point order', () => {
    expect(prefixUpperBound('smith')).toBe('smiti');
    expect(prefixUpperBound('')).toBeUndefined();
    expect(prefixUpperBound('a\u{10ffff}')).toBe('b');
    expect(prefixUpperBound('\u{10ffff}')).toBeUndefined();
    expect(prefixUpperBound('x\ud7ff')).toBe('x\ue000');
    const upper = prefixUpperBound('mü')!;
    const inside = ['mü', 'müller', 'mü\u{10ffff}'];
    const outside = ['mv', 'm', 'mý', 'n', upper];
    const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)); // COLLATE "C" is byte order
    for (const s of inside) expect(cmp(s, 'mü') >= 0 && cmp(s, upper) < 0, s).toBe(true);
    for (const s of outside) expect(cmp(s, 'mü') < 0 || cmp(s, upper) >= 0, s).toBe(true);
  });
});

describe('EMBEDDED_PG_SETTINGS', () => {
  it('turns name=value pairs into -c flags and refuses anything else', () => {
    expect(extraSettings(undefined)).toEqual([]);
    expect(extraSettings(' work_mem=64MB  auto_explain.log_min_duration=1000 ')).toEqual(['-c', 'work_mem=64MB', '-c', 'auto_explain.log_min_duration=1000']);
    expect(() => extraSettings('work_mem')).toThrow(/not name=value/);
    expect(() => extraSettings('a=1;b')).not.toThrow();
    expect(() => extraSettings('A=1')).toThrow();
  });
});
