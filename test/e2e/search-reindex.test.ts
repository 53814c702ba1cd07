import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

/** A custom SearchParameter becomes usable for data stored before it after $reindex (a Postgres-backed job). */
describe('custom SearchParameter + $reindex', () => {
  it('indexes existing resources through a background job and reports progress', { timeout: 120_000 }, async () => {
    const tag = randomUUID().slice(0, 8);
    const code = `nick${tag}`;
    const url = `http://example.org/SearchParameter/${code}`;
    const nicknames = ['Bobby', 'Robin', 'Bobby'];
    // stored BEFORE the parameter exists
    const ids: string[] = [];
    for (const n of nicknames) {
      const res = await http('POST', 'Patient', {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:reindex-test', value: tag }],
        name: [{ use: 'nickname', given: [`${n}${tag}`] }, { use: 'official', family: `Official${tag}` }],
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const sp = await http('POST', 'SearchParameter', {
      resourceType: 'SearchParameter',
      url,
      name: code,
      status: 'active',
      description: 'Nickname (given names of the nickname)',
      code,
      base: ['Patient'],
      type: 'string',
      expression: "Patient.name.where(use = 'nickname').given",
    });
    expect(sp.status).toBe(201);

    const kick = await http('POST', 'Patient/$reindex', { resourceType: 'Parameters', parameter: [] });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers.get('content-location')!;
    expect(statusUrl).toMatch(/\$reindex-status\?job=\d+$/);
    let status = '';
    for (let i = 0; i < 200 && status !== 'done'; i++) {
      const s = await http('GET', statusUrl);
      expect(s.status).toBe(200);
      status = s.body.parameter.find((p: any) => p.name === 'status').valueCode;
      expect(status).not.toBe('failed');
      if (status !== 'done') await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe('done');

    const found = await http('GET', `Patient?${code}=bobby${tag}`);
    expect(found.status).toBe(200);
    const expected = ids.filter((_, i) => nicknames[i] === 'Bobby').sort();
    expect(found.body.entry.map((e: any) => e.resource.id).sort()).toEqual(expected);
    // the official name is not a nickname
    const none = await http('GET', `Patient?${code}=official${tag}`);
    expect(none.body.entry ?? []).toEqual([]);
    // the CapabilityStatement lists the custom parameter
    const cs = await http('GET', 'metadata');
    const patient = cs.body.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.searchParam.some((p: any) => p.name === code)).toBe(true);
  });

  it('refuses an unknown type and an unknown job', async () => {
    expect((await http('POST', '$reindex', { resourceType: 'Parameters', parameter: [{ name: 'type', valueString: 'Nope' }] })).status).toBe(400);
    expect((await http('GET', '$reindex-status?job=999999999')).status).toBe(404);
  });
});
