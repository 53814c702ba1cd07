import { describe, expect, it } from 'vitest';
import { compactDefinitions } from '../../src/fhir/definitions/compact-definitions.js';
import { R4Definitions } from '../../src/fhir/definitions/r4-definitions.js';
import { StructureValidator } from '../../src/fhir/validation/structure-validator.js';
import { requiredBinding } from '../../src/fhir/validation/terminology-bindings.js';

/** Required terminology bindings: codes outside an enumerable required ValueSet are rejected, nothing else is. */

const validator = new StructureValidator();
const errors = (r: unknown) => validator.validate(r).filter((i) => i.severity === 'error');
const VS = 'http://hl7.org/fhir/ValueSet/';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';

function expectCodeInvalid(resource: unknown, expression: string, text: string | RegExp): void {
  const found = errors(resource);
  expect(found, JSON.stringify(found, null, 1)).toHaveLength(1);
  expect(found[0]).toMatchObject({ severity: 'error', code: 'code-invalid', expression: [expression] });
  expect(found[0].diagnostics).toMatch(text);
}

const condition = (clinicalStatus: unknown) => ({ resourceType: 'Condition', subject: { reference: 'Patient/p1' }, clinicalStatus });

describe('required bindings: code elements', () => {
  it('rejects a gender outside administrative-gender, with the exact issue', () => {
    expect(errors({ resourceType: 'Patient', gender: 'robot' })).toEqual([
      {
        severity: 'error',
        code: 'code-invalid',
        diagnostics: 'Code "robot" is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender',
        expression: ['Patient.gender'],
      },
    ]);
  });

  it('accepts every code of the value set, and checks codes of datatypes and arrays at their location', () => {
    for (const gender of ['male', 'female', 'other', 'unknown']) expect(errors({ resourceType: 'Patient', gender })).toEqual([]);
    expect(errors({ resourceType: 'Patient', gender: 'Male' })).toHaveLength(1); // FHIR codes are case-sensitive
    expectCodeInvalid({ resourceType: 'Patient', telecom: [{ system: 'phone', value: '1' }, { system: 'phone', use: 'fax', value: '2' }] }, 'Patient.telecom[1].use', 'contact-point-use');
    expectCodeInvalid({ resourceType: 'Patient', name: [{ use: 'nick', family: 'x' }] }, 'Patient.name[0].use', /"nick".*name-use/);
    expectCodeInvalid({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p1' }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, category: ['food', 'robot'] }, 'AllergyIntolerance.category[1]', '"robot"');
    expectCodeInvalid(
      { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1, comparator: '~' } },
      'Observation.valueQuantity.comparator',
      'quantity-comparator',
    );
    // a primitive extension without a value has no code to check
    expect(errors({ resourceType: 'Patient', _gender: { extension: [{ url: 'http://example.org/x', valueString: 'robot' }] } })).toEqual([]);
  });

  it('enumerates nested concepts, several systems, explicit concept lists (also of UCUM)', () => {
    // issue-type: `required` and `value` are nested under `invalid`
    const oo = (code: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code }] });
    for (const code of ['invalid', 'required', 'value', 'invariant', 'code-invalid']) expect(errors(oo(code))).toEqual([]);
    expectCodeInvalid(oo('robot'), 'OperationOutcome.issue[0].code', 'issue-type');
    // event-timing: codes of http://hl7.org/fhir/event-timing and of v3-TimingEvent
    const timing = (when: string[], periodUnit = 'd') => ({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { text: 'x' },
      subject: { reference: 'Patient/p1' },
      dosageInstruction: [{ timing: { repeat: { when, period: 1, periodUnit } } }],
    });
    expect(errors(timing(['MORN', 'ACM', 'HS']))).toEqual([]);
    expectCodeInvalid(timing(['MORN', 'NOON2']), 'MedicationRequest.dosageInstruction[0].timing.repeat.when[1]', 'event-timing');
    // units-of-time lists 7 UCUM codes
    expect(errors(timing(['MORN'], 'wk'))).toEqual([]);
    expectCodeInvalid(timing(['MORN'], 'cm'), 'MedicationRequest.dosageInstruction[0].timing.repeat.periodUnit', 'units-of-time');
    // immunization-status is 3 codes of event-status: another event-status code is not in it
    const imm = (status: string) => ({ resourceType: 'Immunization', status, vaccineCode: { text: 'x' }, patient: { reference: 'Patient/p1' }, occurrenceString: 'x' });
    expect(errors(imm('not-done'))).toEqual([]);
    expectCodeInvalid(imm('in-progress'), 'Immunization.status', 'immunization-status');
  });
});

describe('required bindings: CodeableConcept and Coding', () => {
  it('a CodeableConcept needs at least one coding from the value set; other codings are translations', () => {
    expect(errors(condition({ coding: [{ system: CLINICAL, code: 'active' }] }))).toEqual([]);
    expect(errors(condition({ coding: [{ system: 'http://snomed.info/sct', code: '55561003' }, { system: CLINICAL, code: 'resolved' }], text: 'x' }))).toEqual([]);
    expectCodeInvalid(condition({ text: 'active' }), 'Condition.clinicalStatus', 'The CodeableConcept has no coding from the required value set http://hl7.org/fhir/ValueSet/condition-clinical');
    expectCodeInvalid(
      condition({ coding: [{ system: 'http://example.org/status', code: 'active' }] }),
      'Condition.clinicalStatus',
      'None of the codings of the CodeableConcept ("http://example.org/status|active") is in the required value set http://hl7.org/fhir/ValueSet/condition-clinical',
    );
    expectCodeInvalid(condition({ coding: [{ system: CLINICAL, code: 'robot' }] }), 'Condition.clinicalStatus', `"${CLINICAL}|robot"`);
    expectCodeInvalid(condition({ coding: [{ system: CLINICAL, display: 'Active' }] }), 'Condition.clinicalStatus', 'has no coding');
  });

  it('a Coding must be from the value set: its system and code; without a system, its code', () => {
    // no R4 core element binds a Coding to a required value set: the rule is checked on its own
    const b = requiredBinding({ strength: 'required', valueSet: `${VS}administrative-gender|4.0.1`, codes: ['http://hl7.org/fhir/administrative-gender|male'] }, 'Coding')!;
    expect(b.valueSet).toBe(`${VS}administrative-gender`);
    expect(b.checkCoded('Coding', { system: 'http://hl7.org/fhir/administrative-gender', code: 'male' })).toBeUndefined();
    expect(b.checkCoded('Coding', { code: 'male' })).toBeUndefined();
    expect(b.checkCoded('Coding', { system: 'http://example.org/gender', code: 'male' })).toBe(
      `Code "http://example.org/gender|male" is not in the required value set ${VS}administrative-gender`,
    );
    expect(b.checkCoded('Coding', { system: 'http://hl7.org/fhir/administrative-gender', code: 'robot' })).toMatch('not in the required value set');
    expect(b.checkCoded('Coding', { display: 'Male' })).toMatch('has no code');
  });
});

describe('required bindings: what is not checked', () => {
  it('extensible, preferred and example bindings are not enforced', () => {
    expect(requiredBinding({ strength: 'extensible', valueSet: `${VS}x`, codes: ['s|a'] }, 'code')).toBeUndefined();
    const coded = { coding: [{ system: 'http://example.org/robot', code: 'robot' }] };
    // Patient.maritalStatus (extensible), Patient.language (preferred), Encounter.class (Coding, extensible), Observation.code (example)
    expect(errors({ resourceType: 'Patient', maritalStatus: coded, language: 'robot', communication: [{ language: coded }] })).toEqual([]);
    expect(errors({ resourceType: 'Encounter', status: 'finished', class: coded.coding[0] })).toEqual([]);
    expect(errors({ resourceType: 'Observation', status: 'final', code: coded, category: [coded] })).toEqual([]);
  });

  it('required value sets that cannot be enumerated are not checked: mime types, currencies, UCUM, unknown value sets', () => {
    expect(errors({ resourceType: 'Binary', contentType: 'robot' })).toEqual([]);
    expect(errors({ resourceType: 'Invoice', status: 'draft', totalNet: { value: 1, currency: 'ROBOT' } })).toEqual([]);
    const unchecked = new Map<string, string>();
    let checked = 0;
    for (const sd of R4Definitions.get().structureDefinitions.values()) {
      for (const e of sd.snapshot.element) {
        if (e.binding?.strength !== 'required') continue;
        if (e.binding.codes) checked++;
        else unchecked.set(e.binding.valueSet.split('|')[0], e.binding.unchecked);
      }
    }
    expect(checked).toBeGreaterThan(300);
    expect([...unchecked.keys()].sort()).toEqual(
      [`${VS}characteristic-combination`, `${VS}currencies`, `${VS}mimetypes`, `${VS}ucum-units`, 'http://loinc.org/vs/LL379-9'].sort(),
    );
    expect(unchecked.get(`${VS}mimetypes`)).toBe('code system urn:ietf:bcp:13 not available');
  });

  it('one shared array of codes per value set, resolved without the |version of the binding', () => {
    const defs = R4Definitions.get();
    const el = (type: string, path: string) => defs.structureDefinitions.get(`http://hl7.org/fhir/StructureDefinition/${type}`).snapshot.element.find((e: any) => e.path === path);
    const gender = el('Patient', 'Patient.gender').binding;
    expect(gender.valueSet).toBe(`${VS}administrative-gender|4.0.1`);
    expect([...gender.codes].sort()).toEqual(['female', 'male', 'other', 'unknown'].map((c) => `http://hl7.org/fhir/administrative-gender|${c}`));
    expect(el('Practitioner', 'Practitioner.gender').binding.codes).toBe(gender.codes);
  });
});

describe('required bindings: expansion of ValueSets in the compaction', () => {
  /** A fake definitions folder: one resource type whose elements are bound to the ValueSets under test. */
  function compact(valueSets: any[], codeSystems: any[]) {
    const element = (name: string, vs: string, strength = 'required') => ({ id: `T.${name}`, path: `T.${name}`, min: 0, max: '1', type: [{ code: 'code' }], binding: { strength, valueSet: `${vs}|4.0.1` } });
    const sd = {
      resourceType: 'StructureDefinition',
      url: 'http://example.org/T',
      type: 'T',
      kind: 'resource',
      fhirVersion: '4.0.1',
      snapshot: { element: [{ id: 'T', path: 'T' }, ...valueSets.map((v) => element(v.id, v.url)), element('ext', 'http://example.org/vs/a', 'extensible')] },
    };
    const files: Record<string, any> = {
      'profiles-types.json': { entry: [] },
      'profiles-resources.json': { entry: [{ resource: sd }] },
      'search-parameters.json': { entry: [] },
      'valuesets.json': { entry: [...valueSets, ...codeSystems].map((resource) => ({ resource })) },
      'v3-codesystems.json': { entry: [] },
    };
    const fs = { readFileSync: (p: string) => JSON.stringify(files[p.slice(p.lastIndexOf('/') + 1)]) };
    const out = compactDefinitions(fs, '/defs').structureDefinitions[0].snapshot.element;
    return Object.fromEntries(out.slice(1).map((e: any) => [e.path.slice(2), e.binding]));
  }
  const cs = (url: string, concept: any[], content = 'complete') => ({ resourceType: 'CodeSystem', url, content, concept });
  const vs = (id: string, compose: any) => ({ resourceType: 'ValueSet', id, url: `http://example.org/vs/${id}`, compose });

  it('explicit concepts, whole code systems with nested concepts, imports, excludes; filters and external systems are skipped', () => {
    const b = compact(
      [
        vs('a', { include: [{ system: 'http://example.org/cs1' }] }),
        vs('b', { include: [{ system: 'http://example.org/cs2', concept: [{ code: 'x' }, { code: 'y' }] }] }),
        vs('c', { include: [{ valueSet: ['http://example.org/vs/a|1.0'] }, { system: 'http://example.org/cs2', concept: [{ code: 'z' }] }], exclude: [{ system: 'http://example.org/cs1', concept: [{ code: 'p2' }] }] }),
        vs('d', { include: [{ system: 'http://example.org/cs1', valueSet: ['http://example.org/vs/e'] }] }),
        vs('e', { include: [{ system: 'http://example.org/cs1', concept: [{ code: 'p1' }, { code: 'p1.1' }] }, { system: 'http://example.org/cs2', concept: [{ code: 'x' }] }] }),
        vs('f', { include: [{ system: 'http://example.org/cs1', filter: [{ property: 'concept', op: 'is-a', value: 'p1' }] }] }),
        vs('g', { include: [{ system: 'http://snomed.info/sct' }] }),
        vs('h', { include: [{ system: 'http://example.org/cs3' }] }),
        vs('i', { include: [{ valueSet: ['http://example.org/vs/missing'] }] }),
      ],
      [cs('http://example.org/cs1', [{ code: 'p1', concept: [{ code: 'p1.1', concept: [{ code: 'p1.1.1' }] }] }, { code: 'p2' }]), cs('http://example.org/cs3', [{ code: 'q' }], 'fragment')],
    );
    const cs1 = (...codes: string[]) => codes.map((c) => `http://example.org/cs1|${c}`);
    expect(b.a.codes).toEqual(cs1('p1', 'p1.1', 'p1.1.1', 'p2'));
    expect(b.b.codes).toEqual(['http://example.org/cs2|x', 'http://example.org/cs2|y']);
    expect(b.c.codes).toEqual([...cs1('p1', 'p1.1', 'p1.1.1'), 'http://example.org/cs2|z']);
    expect(b.d.codes).toEqual(cs1('p1', 'p1.1')); // system ∩ imported value set
    expect(b.f).toEqual({ strength: 'required', valueSet: 'http://example.org/vs/f|4.0.1', unchecked: 'filter on http://example.org/cs1' });
    expect(b.g.unchecked).toBe('code system http://snomed.info/sct not available');
    expect(b.h.unchecked).toBe('code system http://example.org/cs3 has content "fragment"');
    expect(b.i.unchecked).toBe('value set http://example.org/vs/missing not available');
    expect(b.ext).toEqual({ strength: 'extensible', valueSet: 'http://example.org/vs/a|4.0.1' });
  });
});
