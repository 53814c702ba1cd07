import { describe, expect, it } from 'vitest';
import { StructureValidator } from '../../src/fhir/validation/structure-validator.js';

/** Broken resources, each producing exactly the expected issue at the expected FHIRPath location. */

const validator = new StructureValidator();
const errors = (r: unknown) => validator.validate(r).filter((i) => i.severity === 'error');

function expectOnly(resource: unknown, expression: string, code: string, text: string | RegExp): void {
  const found = errors(resource);
  expect(found, JSON.stringify(found, null, 1)).toHaveLength(1);
  expect(found[0].expression).toEqual([expression]);
  expect(found[0].code).toBe(code);
  expect(found[0].diagnostics).toMatch(text);
}

const patient = (extra: object) => ({ resourceType: 'Patient', id: 'p1', ...extra });
const obs = (extra: object) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

describe('structure validator: valid resources', () => {
  it('accepts a resource using choice types, primitive extensions, contained resources and references', () => {
    const r = {
      resourceType: 'Observation',
      id: 'o1',
      meta: { versionId: '1', lastUpdated: '2020-01-01T00:00:00Z' },
      contained: [{ resourceType: 'Practitioner', id: 'pr1', name: [{ family: 'Doe', given: ['J', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }] }],
      status: 'final',
      _status: { id: 's1' },
      code: { coding: [{ system: 'http://loinc.org', code: '1234-5' }] },
      subject: { reference: 'Patient/p1/_history/2', type: 'Patient' },
      performer: [{ reference: '#pr1' }, { reference: 'http://example.org/fhir/Practitioner/9' }, { reference: 'urn:uuid:4861d01f-019c-3dac-a153-8334e50919f9' }],
      effectivePeriod: { start: '2020-01-01T10:00:00+01:00', end: '2020-01-01T10:30:00+01:00' },
      valueQuantity: { value: 3.5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
      component: [{ code: { text: 'a' }, valueString: 'x' }, { code: { text: 'b' }, _valueString: { extension: [{ url: 'http://x', valueBoolean: true }] } }],
    };
    expect(validator.validate(r)).toEqual([]);
  });

  it('accepts base64Binary with line breaks between groups, and nested Questionnaire items', () => {
    expect(errors({ resourceType: 'Binary', contentType: 'text/plain', data: 'SGVs\nbG8g\r\nd29y bGQ=' })).toEqual([]);
    const q = { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string' }] }] };
    expect(errors(q)).toEqual([]);
  });
});

describe('structure validator: one issue per broken resource', () => {
  it('unknown property, resourceType and _extension of a non-primitive', () => {
    expectOnly(patient({ foo: 1 }), 'Patient.foo', 'structure', 'Unknown property "foo"');
    expectOnly(patient({ _name: [{}] }), 'Patient._name', 'structure', 'Unknown property "_name"');
    expectOnly({ resourceType: 'Patient2' }, 'Patient2.resourceType', 'structure', 'Unknown resourceType "Patient2"');
    expectOnly(patient({ contained: [{ resourceType: 'Nope', id: 'x' }], generalPractitioner: [{ reference: '#x' }] }), 'Patient.contained[0].resourceType', 'structure', 'Unknown resourceType');
  });

  it('JSON type of primitives', () => {
    expectOnly(patient({ active: 'true' }), 'Patient.active', 'structure', 'expected boolean, found string');
    expectOnly(patient({ multipleBirthInteger: '2' }), 'Patient.multipleBirthInteger', 'structure', 'expected number, found string');
    expectOnly(patient({ gender: 1 }), 'Patient.gender', 'structure', 'expected string, found number');
    expectOnly(patient({ birthDate: { value: '2000' } }), 'Patient.birthDate', 'structure', 'expected string, found object');
  });

  it('primitive formats (R4 regexes and value spaces)', () => {
    expectOnly(patient({ id: 'a_b' }), 'Patient.id', 'value', 'Invalid id format');
    expectOnly(patient({ birthDate: '2020-13-01' }), 'Patient.birthDate', 'value', 'Invalid date format');
    expectOnly(patient({ birthDate: '2021-02-29' }), 'Patient.birthDate', 'value', 'not a calendar day');
    expectOnly(obs({ effectiveDateTime: '2020-01-01T10:00:00' }), 'Observation.effectiveDateTime', 'value', 'Invalid dateTime format');
    expectOnly(obs({ issued: '2020-01-01' }), 'Observation.issued', 'value', 'Invalid instant format');
    expectOnly(obs({ valueTime: '25:00:00' }), 'Observation.valueTime', 'value', 'Invalid time format');
    expectOnly(patient({ implicitRules: 'http://a b' }), 'Patient.implicitRules', 'value', 'Invalid uri format');
    expectOnly(patient({ gender: 'ma  le' }), 'Patient.gender', 'value', 'Invalid code format');
    expectOnly(patient({ identifier: [{ system: 'urn:oid:1.2.3' }], contained: undefined, link: [{ other: { reference: 'Patient/2' }, type: 'seealso' }], _id: { extension: [{ url: 'u', valueOid: '1.2' }] } }), 'Patient.id.extension[0].valueOid', 'value', 'Invalid oid format');
    expectOnly(obs({ valueString: 'x', extension: [{ url: 'u', valueUuid: 'urn:uuid:ABC' }] }), 'Observation.extension[0].valueUuid', 'value', 'Invalid uuid format');
    expectOnly(obs({ valueString: 'a\u0001b' }), 'Observation.valueString', 'value', 'control characters');
    expectOnly(patient({ multipleBirthInteger: 1.5 }), 'Patient.multipleBirthInteger', 'value', 'not an integer');
    expectOnly(patient({ multipleBirthInteger: 2 ** 31 }), 'Patient.multipleBirthInteger', 'value', 'out of range');
    expectOnly(patient({ photo: [{ size: -1 }] }), 'Patient.photo[0].size', 'value', 'Invalid unsignedInt');
    expectOnly(patient({ photo: [{ contentType: 'a/b', data: 'abc' }] }), 'Patient.photo[0].data', 'value', 'Invalid base64Binary format');
    const timing = { resourceType: 'MedicationRequest', status: 'active', intent: 'order', medicationCodeableConcept: { text: 'x' }, subject: { reference: 'Patient/1' }, dosageInstruction: [{ timing: { repeat: { count: 0 } } }] };
    expectOnly(timing, 'MedicationRequest.dosageInstruction[0].timing.repeat.count', 'value', 'Invalid positiveInt');
    expectOnly(obs({ valueDateTime: '2020-01-01T10:00Z' }), 'Observation.valueDateTime', 'value', 'Invalid dateTime format');
  });

  it('strings are never empty or blank', () => {
    expectOnly(patient({ gender: '' }), 'Patient.gender', 'value', 'Invalid empty string');
    expectOnly(patient({ name: [{ family: '  ' }] }), 'Patient.name[0].family', 'value', 'non-whitespace content');
  });

  it('array vs single value, empty arrays, empty objects and nulls', () => {
    expectOnly(patient({ gender: ['male'] }), 'Patient.gender', 'structure', 'Expected a single value');
    expectOnly(patient({ maritalStatus: [{ text: 'x' }] }), 'Patient.maritalStatus', 'structure', 'Expected a single value');
    expectOnly(patient({ name: { family: 'Doe' } }), 'Patient.name', 'structure', 'Expected an array');
    expectOnly(patient({ name: [] }), 'Patient.name', 'structure', 'Invalid empty array');
    expectOnly(patient({ name: [{}] }), 'Patient.name[0]', 'structure', 'Invalid empty object');
    expectOnly(patient({ maritalStatus: null }), 'Patient.maritalStatus', 'structure', 'Invalid null value');
    expectOnly(patient({ name: [{ given: ['a', null] }] }), 'Patient.name[0].given[1]', 'structure', 'Invalid null value');
    expectOnly(patient({ name: [null] }), 'Patient.name[0]', 'structure', 'Invalid null value');
    expectOnly(patient({ name: [{ given: ['a', 'b'], _given: [null] }] }), 'Patient.name[0].given', 'structure', 'same number of items');
  });

  it('required elements, including choice elements and nested backbone elements (contentReference)', () => {
    expectOnly({ resourceType: 'Observation', code: { text: 'x' } }, 'Observation.status', 'required', 'Missing required element Observation.status');
    expectOnly({ resourceType: 'Group', type: 'person', actual: true, characteristic: [{ code: { text: 'c' }, exclude: false }] }, 'Group.characteristic[0].value', 'required', 'Group.characteristic.value[x]');
    const q = { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ type: 'string' }] }] };
    expectOnly(q, 'Questionnaire.item[0].item[0].linkId', 'required', 'Questionnaire.item.linkId');
    // a primitive present only through its extension satisfies min 1
    expect(errors({ resourceType: 'Observation', code: { text: 'x' }, _status: { extension: [{ url: 'http://x', valueCode: 'y' }] } })).toEqual([]);
  });

  it('choice elements carry one type', () => {
    expectOnly(obs({ valueString: 'a', valueBoolean: true }), 'Observation.valueBoolean', 'structure', 'Only one value[x]');
  });

  it('primitive extension parts (_name)', () => {
    expectOnly(patient({ _birthDate: 'x' }), 'Patient.birthDate', 'structure', 'must be an object');
    expectOnly(patient({ _birthDate: { id: 'a' } }), 'Patient.birthDate', 'invariant', 'ele-1');
    expect(errors(patient({ birthDate: '2000', _birthDate: { id: 'a' } }))).toEqual([]);
    expectOnly(patient({ _birthDate: { extension: [{ valueString: 'x' }] } }), 'Patient.birthDate.extension[0].url', 'required', 'Extension.url');
  });

  it('ele-1: an element with only an id', () => {
    expectOnly(patient({ maritalStatus: { id: 'x' } }), 'Patient.maritalStatus', 'invariant', 'ele-1');
  });

  it('extensions: url required, value[x] xor extension (ext-1)', () => {
    expectOnly(patient({ extension: [{ valueString: 'x' }] }), 'Patient.extension[0].url', 'required', 'Missing required element Extension.url');
    expectOnly(patient({ extension: [{ url: 'http://x' }] }), 'Patient.extension[0]', 'invariant', 'ext-1');
    expectOnly(patient({ extension: [{ url: 'http://x', valueString: 'a', extension: [{ url: 'y', valueString: 'b' }] }] }), 'Patient.extension[0]', 'invariant', 'ext-1');
    expectOnly(patient({ modifierExtension: [{ url: 'http://x', valueFoo: 1, valueString: 'a' }] }), 'Patient.modifierExtension[0].valueFoo', 'structure', 'Unknown property');
  });

  it('Reference.reference format', () => {
    const subj = (reference: string) => obs({ subject: { reference } });
    expectOnly(subj('Patient/'), 'Observation.subject.reference', 'value', 'Invalid reference');
    expectOnly(subj('Foo/1'), 'Observation.subject.reference', 'value', '"Foo" is not a resource type');
    expectOnly(subj('Patient/a b'), 'Observation.subject.reference', 'value', 'Invalid reference');
    expectOnly(subj('urn:uuid:XYZ'), 'Observation.subject.reference', 'value', 'Invalid urn:uuid');
    expectOnly(subj('urn:oid:1.02'), 'Observation.subject.reference', 'value', 'Invalid urn:oid');
    expectOnly(subj('#nothing'), 'Observation.subject.reference', 'invariant', 'ref-1');
    expectOnly(subj('Patient?identifier=x|1'), 'Observation.subject.reference', 'value', 'only allowed in a transaction');
    for (const ok of ['Patient/1', 'Patient/1/_history/2', 'https://h/fhir/Patient/1', 'urn:oid:1.2.3', 'urn:uuid:4861d01f-019c-3dac-a153-8334e50919f9']) expect(errors(subj(ok))).toEqual([]);
  });

  it('Reference target types and Reference.type', () => {
    expectOnly(obs({ subject: { reference: 'Medication/1' } }), 'Observation.subject.reference', 'structure', 'Medication is not allowed for Observation.subject');
    expectOnly(obs({ subject: { reference: 'Patient/1', type: 'Group' } }), 'Observation.subject.type', 'invariant', 'does not match');
  });

  it('contained resources: validated as resources, dom-2 .. dom-5', () => {
    const c = (contained: object, extra: object = { generalPractitioner: [{ reference: '#c' }] }) => patient({ contained: [{ resourceType: 'Practitioner', id: 'c', ...contained }], ...extra });
    expectOnly(c({ foo: 1 }), 'Patient.contained[0].foo', 'structure', 'Unknown property');
    expectOnly(c({ contained: [{ resourceType: 'Basic', id: 'b', code: { text: 'x' } }] }), 'Patient.contained[0].contained', 'invariant', 'dom-2');
    expectOnly(c({ meta: { versionId: '1' } }), 'Patient.contained[0].meta', 'invariant', 'dom-4');
    expectOnly(c({ meta: { security: [{ code: 'R' }] } }), 'Patient.contained[0].meta.security', 'invariant', 'dom-5');
    expectOnly(c({}, {}), 'Patient.contained[0]', 'invariant', 'dom-3');
    // a contained resource referring to its container is fine
    expect(errors(patient({ contained: [{ resourceType: 'Provenance', id: 'pv', target: [{ reference: '#' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }] }] }))).toEqual([]);
  });

  it('Resource-typed elements are validated by their own resourceType', () => {
    const b = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient({}) }, { resource: patient({ gender: 'x y  z' }) }] };
    expectOnly(b, 'Bundle.entry[1].resource.gender', 'value', 'Invalid code format');
    const p = { resourceType: 'Parameters', parameter: [{ name: 'r', resource: { resourceType: 'Observation', code: { text: 'x' } } }] };
    expectOnly(p, 'Parameters.parameter[0].resource.status', 'required', 'Observation.status');
    const t = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs({ subject: { reference: 'Patient?identifier=a|1' } }), request: { method: 'POST', url: 'Observation' } }] };
    expect(errors(t)).toEqual([]);
  });

  it('reports every error of a resource, each at its own location', () => {
    const r = {
      resourceType: 'Observation',
      foo: true,
      code: { coding: [{ system: 'http://loinc.org', code: 'a  b' }] },
      subject: { reference: 'Foo/1' },
      component: [{ code: { text: 'ok' }, valueQuantity: { value: 1 } }, { code: { text: 'bad' }, valueQuantity: { value: 'abc' } }],
      effectiveDateTime: '2020-02-30',
    };
    const found = errors(r).map((i) => i.expression![0]).sort();
    expect(found).toEqual([
      'Observation.code.coding[0].code',
      'Observation.component[1].valueQuantity.value',
      'Observation.effectiveDateTime',
      'Observation.foo',
      'Observation.status',
      'Observation.subject.reference',
    ]);
  });
});

describe('structure validator: R4 datatype rules stated in the text, stricter than the published regexes', () => {
  it('a code has no whitespace other than single spaces', () => {
    expect(errors(obs({ valueCodeableConcept: { coding: [{ code: 'a b' }] } }))).toEqual([]);
    expect(errors(obs({ valueCodeableConcept: { coding: [{ code: 'a\tb' }] } }))[0]?.diagnostics).toMatch('Invalid code format');
    expect(errors(obs({ valueCodeableConcept: { coding: [{ code: 'a\u00a0' }] } }))[0]?.diagnostics).toMatch('Invalid code format');
  });
});
