import { beforeEach, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

const op = (type: string, path: string, extra: any[] = []) => ({
  name: 'operation',
  part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...extra],
});
const patch = (id: string, ...operations: any[]) =>
  http('PATCH', `Patient/${id}`, { resourceType: 'Parameters', parameter: operations }, { 'content-type': 'application/fhir+json' });

describe('PATCH with FHIRPath Patch (Parameters)', () => {
  let id: string;
  beforeEach(async () => {
    const res = await http('POST', 'Patient', {
      resourceType: 'Patient',
      active: true,
      birthDate: '1970-01-01',
      name: [{ family: 'Alpha', given: ['A1', 'A2', 'A3'] }, { family: 'Beta' }],
      identifier: [{ system: 'urn:sys:a', value: '1' }, { system: 'urn:sys:b', value: '2' }],
    });
    expect(res.status).toBe(201);
    id = res.body.id;
  });

  it('replaces, adds, inserts, moves and deletes where the FHIRPath points', async () => {
    const res = await patch(
      id,
      op('replace', 'Patient.birthDate', [{ name: 'value', valueDate: '1980-02-03' }]),
      op('add', 'Patient', [{ name: 'name', valueString: 'gender' }, { name: 'value', valueCode: 'female' }]),
      op('add', 'Patient', [
        { name: 'name', valueString: 'telecom' },
        { name: 'value', part: [{ name: 'system', valueCode: 'phone' }, { name: 'value', valueString: '555-0100' }] },
      ]),
      op('insert', 'Patient.name[0].given', [{ name: 'index', valueInteger: 0 }, { name: 'value', valueString: 'A0' }]),
      op('move', 'Patient.name[0].given', [{ name: 'source', valueInteger: 3 }, { name: 'destination', valueInteger: 1 }]),
      op('delete', "Patient.identifier.where(system = 'urn:sys:b')"),
      op('delete', 'Patient.active'),
    );
    expect(res.status).toBe(200);
    expect(res.body.meta.versionId).toBe('2');
    expect(res.body.birthDate).toBe('1980-02-03');
    expect(res.body.gender).toBe('female');
    expect(res.body.telecom).toEqual([{ system: 'phone', value: '555-0100' }]);
    expect(res.body.name[0].given).toEqual(['A0', 'A3', 'A1', 'A2']);
    expect(res.body.identifier).toEqual([{ system: 'urn:sys:a', value: '1' }]);
    expect(res.body.active).toBeUndefined();
    const read = await http('GET', `Patient/${id}`);
    expect(read.body.name[0].given).toEqual(['A0', 'A3', 'A1', 'A2']);
  });

  it('refuses an ambiguous path, an invalid result and malformed operations, changing nothing', async () => {
    const ambiguous = await patch(id, op('replace', 'Patient.name', [{ name: 'value', part: [{ name: 'family', valueString: 'X' }] }]));
    expect(ambiguous.status).toBe(422);
    expect(ambiguous.body.resourceType).toBe('OperationOutcome');
    const invalid = await patch(id, op('replace', 'Patient.birthDate', [{ name: 'value', valueString: 'not-a-date' }]));
    expect(invalid.status).toBe(400);
    const badType = await patch(id, op('frobnicate', 'Patient.birthDate'));
    expect(badType.status).toBe(400);
    const badPath = await patch(id, op('delete', 'Patient.name[(('));
    expect(badPath.status).toBe(400);
    const read = await http('GET', `Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.birthDate).toBe('1970-01-01');
  });
});
