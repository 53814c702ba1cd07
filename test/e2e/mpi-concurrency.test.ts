import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { patient, uniqueBirthDate, uniqueName } from './mpi-support.js';

/**
 * Patients written at the same time by several transaction Bundles update shared term counts (common given names,
 * the total count). Every writer takes those rows in one order, so they queue instead of deadlocking: no Bundle is
 * answered 409. Before that order, GROUP BY's hash order differed between statements and this test got 409s.
 */
describe('MPI under concurrent Bundles', () => {
  it('8 concurrent Bundles of 20 Patients sharing given names: all committed', async () => {
    const common = Array.from({ length: 6 }, () => uniqueName('G'));
    const bundles = Array.from({ length: 8 }, (_, b) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 20 }, (_, i) => ({
        // two of the shared given names, in an order that differs between Bundles and entries
        resource: { ...patient({ family: uniqueName('F'), birthDate: uniqueBirthDate() }), name: [{ family: uniqueName('F'), given: [common[(b + i) % 6], common[(b * 5 + i * 7 + 1) % 6]] }] },
        request: { method: 'POST', url: 'Patient' },
      })),
    }));
    const results = await Promise.all(bundles.map((bundle) => http('POST', '', bundle)));
    expect(results.map((r) => r.status), results.find((r) => r.status !== 200)?.text.slice(0, 300)).toEqual(bundles.map(() => 200));
    const ids = results.flatMap((r) => r.body.entry.map((e: any) => e.response.location.split('/')[1]));
    expect(new Set(ids).size).toBe(160);
    const golden = await http('GET', `Patient?_id=${ids.slice(0, 40).join(',')}&_count=100`);
    expect(golden.status).toBe(200);
    expect(golden.body.entry).toHaveLength(40);
  });
});
