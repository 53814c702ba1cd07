import fhirpath from 'fhirpath';
import { describe, expect, it } from 'vitest';
import { analyseGuards } from '../../src/fhir/validation/invariant-compiler.js';
import { compileProver } from '../../src/fhir/validation/invariant-prover.js';
import { StructureCompiler } from '../../src/fhir/validation/structure-compiler.js';
import { StructureValidator } from '../../src/fhir/validation/structure-validator.js';

const validator = new StructureValidator();
const errors = (r: unknown) => validator.validate(r).filter((i) => i.severity === 'error');

function expectInvariant(resource: unknown, expression: string, key: string): void {
  const found = errors(resource);
  expect(found, JSON.stringify(found, null, 1)).toHaveLength(1);
  expect(found[0]).toMatchObject({ code: 'invariant', expression: [expression] });
  expect(found[0].diagnostics).toContain(key);
}

const obs = (extra: object) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '1-8' }] }, ...extra });

describe('FHIRPath invariants', () => {
  it('resource-level: obs-6, org-1', () => {
    expectInvariant(obs({ valueQuantity: { value: 1 }, dataAbsentReason: { text: 'x' } }), 'Observation', 'obs-6');
    expectInvariant({ resourceType: 'Organization', active: true }, 'Organization', 'org-1');
  });

  it('datatype-level: per-1 on a Period, qty-3 on a Quantity, txt-2 on a narrative', () => {
    const enc = (period: object) => ({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period });
    expectInvariant(enc({ start: '2020-01-02T10:00:00Z', end: '2020-01-01T10:00:00Z' }), 'Encounter.period', 'per-1');
    expectInvariant(enc({ start: '2020-01-02', end: '2020-01-01' }), 'Encounter.period', 'per-1');
    expect(errors(enc({ start: '2020-01-01T10:00:00+02:00', end: '2020-01-01T09:00:00Z' }))).toEqual([]);
    // different precisions, equal up to the day: FHIRPath answers empty, the invariant holds
    expect(errors(enc({ start: '2020-01-01', end: '2020-01-01T10:00:00Z' }))).toEqual([]);
    // ... but a day earlier is a day earlier
    expectInvariant(enc({ start: '2020-01-02', end: '2020-01-01T10:00:00Z' }), 'Encounter.period', 'per-1');
    expectInvariant(obs({ valueQuantity: { value: 1, code: 'mg' } }), 'Observation.valueQuantity', 'qty-3');
    const narrative = { resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">\n  </div>' } };
    expectInvariant(narrative, 'Patient.text.div', 'txt-2');
  });

  it('backbone and contentReference elements: que-1 on a nested item, element-level on a choice (ras-1)', () => {
    const q = { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'group' }] }] };
    expectInvariant(q, 'Questionnaire.item[0].item[0]', 'que-1');
    const ra = { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/1' }, prediction: [{ probabilityRange: { low: { value: 1, code: 'mg', system: 'http://unitsofmeasure.org' } } }] };
    expectInvariant(ra, 'RiskAssessment.prediction[0].probabilityRange', 'ras-1');
    const ok = { ...ra, prediction: [{ probabilityDecimal: 0.5 }] };
    expect(errors(ok)).toEqual([]);
  });

  it('a resource inside a Bundle is its own %resource (obs-7)', () => {
    const o = obs({ valueQuantity: { value: 1 }, component: [{ code: { coding: [{ system: 'http://loinc.org', code: '1-8' }] }, valueString: 'x' }] });
    expectInvariant({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: o }] }, 'Bundle.entry[0].resource', 'obs-7');
  });

  it('SimpleQuantity profile on core elements forbids comparator', () => {
    const found = errors(obs({ referenceRange: [{ low: { value: 1, comparator: '<' } }] }));
    expect(found.map((i) => i.expression?.[0])).toContain('Observation.referenceRange[0].low.comparator');
  });

  it('several failing invariants and structural errors are all reported', () => {
    const r = { resourceType: 'Organization', telecom: [{ value: '1', use: 'home' }], address: [{ use: 'home', city: 'x' }], bogus: 1 };
    const found = errors(r).map((i) => `${i.expression?.[0]} ${i.diagnostics?.slice(0, 16)}`).sort();
    expect(found).toEqual([
      'Organization Constraint org-1',
      'Organization.address[0] Constraint org-2',
      'Organization.bogus Unknown property',
      'Organization.telecom[0] Constraint cpt-2',
      'Organization.telecom[0] Constraint org-3',
    ]);
  });
});

describe('invariant guards (static analysis of the expression)', () => {
  const guards = (e: string) => analyseGuards(fhirpath.parse(e));
  it('finds the properties whose absence makes an invariant hold', () => {
    expect(guards('dataAbsentReason.empty() or value.empty()')).toEqual([['dataAbsentReason'], ['value']]);
    expect(guards('duration.exists() implies duration >= 0')).toEqual([['duration']]);
    expect(guards('(code.exists() or value.empty()) and (system.empty() or system = %ucum)')).toEqual([['system', 'value']]);
    expect(guards("value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()")).toEqual([['value'], ['component']]);
  });
  it('gives up on what it cannot prove', () => {
    expect(guards('(identifier.count() + name.count()) > 0')).toEqual([]);
    expect(guards("where(use = 'home').empty()")).toEqual([]);
    expect(guards('%resource.id.empty()')).toEqual([]);
    expect(guards('a.exists() xor b.exists()')).toEqual([]);
    expect(guards('htmlChecks()')).toEqual([]);
  });
});

describe('invariant prover (partial evaluator)', () => {
  const compiler = new StructureCompiler();
  const prove = (type: string, e: string, value: object) => compileProver(fhirpath.parse(e), compiler.typeNode(type))(value);
  it('proves invariants that hold', () => {
    const per1 = 'start.hasValue().not() or end.hasValue().not() or (start <= end)';
    expect(prove('Period', per1, { start: '2020-01-01T10:00:00Z', end: '2020-01-01T10:00:00.5Z' })).toBe(true);
    expect(prove('Period', per1, { start: '2020-01-01' })).toBe(true);
    expect(prove('Quantity', 'code.empty() or system.exists()', { value: 1, code: 'mg', system: 'http://unitsofmeasure.org' })).toBe(true);
    expect(prove('Duration', 'code.exists() implies ((system = %ucum) and value.exists())', { value: 1, code: 'd', system: 'http://unitsofmeasure.org' })).toBe(true);
  });
  it('never proves an invariant that fails, and leaves unknowns to the fhirpath package', () => {
    const per1 = 'start.hasValue().not() or end.hasValue().not() or (start <= end)';
    expect(prove('Period', per1, { start: '2020-01-02T10:00:00Z', end: '2020-01-01T10:00:00Z' })).toBe(false);
    expect(prove('Period', per1, { start: '2020-01-02', end: '2020-01-01T10:00:00Z' })).toBe(false); // precisions differ
    expect(prove('Quantity', 'code.empty() or system.exists()', { value: 1, code: 'mg' })).toBe(false);
    expect(prove('Duration', 'code.exists() implies ((system = %ucum) and value.exists())', { code: 'd', system: 'http://x' })).toBe(false);
  });
});
