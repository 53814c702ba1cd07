import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { params, recordsOf, requestId, requestIdOf, subtypeOf } from './audit-support.js';

/** 1,000 concurrent mixed requests: exactly one record each, and the chain still verifies. */

const N = 1000;

describe('audit under concurrency', () => {
  it(`${N} concurrent mixed requests (reads, searches, creates, updates, invalid writes) → exactly one record each`, async () => {
    const seed = await Promise.all(
      Array.from({ length: 20 }, (_, i) => http('POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Concurrent-audit-${i}` }] })),
    );
    const patients = seed.map((r) => r.body);
    const kinds = ['read', 'search-type', 'create', 'update', 'create-invalid'] as const;
    const plan = Array.from({ length: N }, (_, i) => ({ id: requestId('conc'), kind: kinds[i % kinds.length], p: patients[i % patients.length] }));
    const responses = await Promise.all(
      plan.map(({ id, kind, p }) => {
        const h = { 'x-request-id': id };
        switch (kind) {
          case 'read':
            return http('GET', `Patient/${p.id}`, undefined, h);
          case 'search-type':
            return http('GET', `Observation?subject=Patient/${p.id}&_count=5`, undefined, h);
          case 'create':
            return http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: `Patient/${p.id}` } }, h);
          case 'update':
            // no If-Match: concurrent updates of one patient serialise on its row lock, each one succeeds
            return http('PUT', `Patient/${p.id}`, { resourceType: 'Patient', id: p.id, name: [{ family: `Concurrent-audit-${id}` }] }, h);
          default:
            return http('POST', 'Observation', { resourceType: 'Observation', status: 'invalid-status' }, h);
        }
      }),
    );
    const expected: Record<string, number> = { read: 200, 'search-type': 200, create: 201, update: 200, 'create-invalid': 400 };
    plan.forEach((p, i) => expect(responses[i].status, `${p.kind}: ${responses[i].text.slice(0, 200)}`).toBe(expected[p.kind]));

    const records = await recordsOf(plan.map((p) => p.id));
    const byRequest = new Map<string, any[]>();
    for (const r of records) byRequest.set(requestIdOf(r)!, [...(byRequest.get(requestIdOf(r)!) ?? []), r]);
    for (const p of plan) {
      const mine = byRequest.get(p.id) ?? [];
      expect(mine, p.id).toHaveLength(1);
      expect(subtypeOf(mine[0])).toBe(p.kind === 'create-invalid' ? 'create' : p.kind);
      expect(mine[0].outcome).toBe(p.kind === 'create-invalid' ? '4' : '0');
    }
    expect(records).toHaveLength(N);

    const v = params((await http('GET', 'AuditEvent/$verify')).body);
    expect(v.problem, JSON.stringify(v.problem)).toBeUndefined();
    expect(v.result).toEqual([true]);
    expect(v.records[0]).toBeGreaterThanOrEqual(N);
  }, 120_000);
});
