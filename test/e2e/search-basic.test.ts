import { describe, expect, it, beforeAll } from 'vitest';
import { http } from '../support/hub.js';

const TAG = `basic-${Date.now()}`;
const meta = { tag: [{ system: 'urn:search-test', code: TAG }] };

describe('search basics', () => {
  beforeAll(async () => {
    const p = { resourceType: 'Patient', id: 'sb-1', meta, name: [{ family: 'Müller', given: ['Éva'] }], gender: 'female', birthDate: '1970-03-04',
      identifier: [{ system: 'http://x/mrn', value: 'A1' }] };
    const r = await http('PUT', 'Patient/sb-1', p);
    expect(r.status, r.text).toBeLessThan(300);
    const o = { resourceType: 'Observation', id: 'sb-o1', meta, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8302-2', display: 'Body height' }] },
      subject: { reference: 'Patient/sb-1' }, effectiveDateTime: '2020-05-17T10:00:00Z', valueQuantity: { value: 170, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' } };
    const r2 = await http('PUT', 'Observation/sb-o1', o);
    expect(r2.status, r2.text).toBeLessThan(300);
  });

  it('finds by string, token, date, reference, quantity', async () => {
    for (const q of ['Patient?name=mull', 'Patient?name=eva', 'Patient?identifier=http://x/mrn|A1', 'Patient?birthdate=1970', 'Patient?gender=female&_id=sb-1',
      'Observation?subject=Patient/sb-1', 'Observation?code=http://loinc.org|8302-2&date=ge2020-05', 'Observation?value-quantity=1.7|http://unitsofmeasure.org|m',
      'Observation?subject:Patient.name=müller', 'Patient?_has:Observation:patient:code=8302-2', 'Observation?code-value-quantity=8302-2$gt100',
      'Observation?patient=sb-1&_include=Observation:patient', 'Patient?_id=sb-1&_revinclude=Observation:subject']) {
      const r = await http('GET', `${q}&_tag=urn:search-test|${TAG}`);
      expect(r.status, `${q}: ${r.text}`).toBe(200);
      expect(r.body.total, `${q}: ${r.text}`).toBe(1);
    }
  });
});
