import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

describe('hub smoke', () => {
  it('serves the CapabilityStatement', async () => {
    const res = await http('GET', 'metadata');
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('CapabilityStatement');
    expect(res.body.fhirVersion).toBe('4.0.1');
  });
});
