import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

/** Concurrent creates are committed in groups; each must still succeed or fail on its own. */
describe('group commit of concurrent creates', () => {
  it('200 concurrent creates, every fifth invalid: valid ones stored once each, invalid ones refused', async () => {
    const tag = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        http('POST', 'Patient', {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:group-commit', value: `${tag}-${i}` }],
          ...(i % 5 === 0 ? { birthDate: 'not a date' } : { birthDate: '2001-02-03' }),
        }),
      ),
    );
    results.forEach((r, i) => expect(r.status, r.text.slice(0, 200)).toBe(i % 5 === 0 ? 400 : 201));
    const ids = results.filter((r) => r.status === 201).map((r) => r.body.id);
    expect(new Set(ids).size).toBe(160);
    const reads = await Promise.all(ids.map((id) => http('GET', `Patient/${id}`)));
    reads.forEach((r) => {
      expect(r.status).toBe(200);
      expect(r.body.meta.versionId).toBe('1');
    });
    // every stored one is searchable (its index rows were committed with it)
    const search = await Promise.all(
      [1, 2, 3, 4, 6].map((i) => http('GET', `Patient?identifier=${encodeURIComponent(`urn:group-commit|${tag}-${i}`)}`)),
    );
    search.forEach((s, k) => expect(s.body.entry?.map((e: any) => e.resource.id)).toEqual([results[[1, 2, 3, 4, 6][k]].body.id]));
  });
});
