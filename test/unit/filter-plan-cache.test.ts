import { describe, expect, it } from 'vitest';
import { FilterPlanCache } from '../../src/fhir/search/query/filter-plans.js';

describe('FilterPlanCache', () => {
  it('forgets an entry when its time is up', () => {
    const c = new FilterPlanCache(1000, 10);
    c.set('a', 'walk', 0);
    expect(c.get('a', 999)).toBe('walk');
    expect(c.get('a', 1000)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('keeps at most max entries, dropping the oldest written', () => {
    const c = new FilterPlanCache(60_000, 3);
    c.set('a', 'walk', 0);
    c.set('b', 'gather', 0);
    c.set('c', 12, 0);
    c.set('a', 'gather', 1); // written again: now the newest
    c.set('d', 'walk', 2);
    expect(c.size).toBe(3);
    expect(c.get('b', 3)).toBeUndefined();
    expect([c.get('a', 3), c.get('c', 3), c.get('d', 3)]).toEqual(['gather', 12, 'walk']);
  });
});
