import { describe, expect, it } from 'vitest';
import { SearchParameterIndexer } from '../../src/fhir/search/extract/search-parameter-indexer.js';
import { compileSearchExpression } from '../../src/fhir/search/extract/fhirpath-compiler.js';
import { paramId, SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { dateRange } from '../../src/fhir/search/values/date-range.js';
import { foldText } from '../../src/fhir/search/values/text-fold.js';
import { canonicalQuantity } from '../../src/fhir/search/values/ucum.js';
import { parseReference } from '../../src/fhir/search/values/reference.js';

const registry = new SearchParamRegistry();
const indexer = new SearchParameterIndexer(registry);
const pid = (type: string, code: string) => paramId(type, code);

function rowsOf(table: Record<string, any[]>, p: number): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  table.pid.forEach((x: number, i: number) => {
    if (x !== p) return;
    const row: Record<string, any> = {};
    for (const k of Object.keys(table)) row[k] = table[k][i];
    out.push(row);
  });
  return out;
}

describe('FHIRPath compilation', () => {
  it('compiles paths, casts, where(resolve() is T) and where(field=...) natively with static types', () => {
    const obs = { resourceType: 'Observation', subject: { reference: 'Patient/1' }, valueQuantity: { value: 5 }, effectivePeriod: { start: '2020' } };
    expect(compileSearchExpression('Observation.subject.where(resolve() is Patient)', 'Observation')(obs, obs)).toEqual([{ type: 'Reference', values: [obs.subject], ctx: 'Reference' }]);
    expect(compileSearchExpression('Observation.subject.where(resolve() is Group)', 'Observation')(obs, obs)).toEqual([]);
    expect(compileSearchExpression('(Observation.value as Quantity)', 'Observation')(obs, obs)[0].type).toBe('Quantity');
    expect(compileSearchExpression('Observation.effective', 'Observation')(obs, obs).map((t) => t.type)).toEqual(['Period']);
    const p = { resourceType: 'Patient', telecom: [{ system: 'phone', value: '1' }, { system: 'email', value: 'a@b' }] };
    expect(compileSearchExpression("Patient.telecom.where(system='email')", 'Patient')(p, p)[0].values).toEqual([p.telecom[1]]);
  });
  it('keeps only the parts of a shared expression that belong to the type', () => {
    const cond = { resourceType: 'Condition', subject: { reference: 'Patient/9' } };
    const fn = compileSearchExpression('AllergyIntolerance.patient | Condition.subject.where(resolve() is Patient) | Encounter.subject', 'Condition');
    expect(fn(cond, cond)).toEqual([{ type: 'Reference', values: [cond.subject], ctx: 'Reference' }]);
  });
  it('falls back to fhirpath.js for expressions outside the native subset', () => {
    const p = { resourceType: 'Patient', deceasedBoolean: false };
    expect(compileSearchExpression('Patient.deceased.exists() and Patient.deceased != false', 'Patient')(p, p)[0].values).toEqual([false]);
    const fn = compileSearchExpression("Patient.name.where(use = 'official').family.first()", 'Patient');
    const q = { resourceType: 'Patient', name: [{ use: 'usual', family: 'A' }, { use: 'official', family: 'B' }] };
    expect(fn(q, q)).toEqual([{ type: 'string', values: ['B'] }]);
  });
});

describe('index rows', () => {
  it('token: CodeableConcept codings with folded display, text rows, identifiers with of-type rows', () => {
    const rows = indexer.extract({
      resourceType: 'Patient',
      identifier: [{ system: 's', value: 'v', type: { coding: [{ system: 'ts', code: 'MR' }], text: 'Medical Record' } }],
      maritalStatus: { coding: [{ system: 'http://x', code: 'M', display: 'Mārried' }], text: 'Married' },
    });
    const ids = rowsOf(rows.token, pid('Patient', 'identifier'));
    expect(ids).toEqual([{ pid: pid('Patient', 'identifier'), sys: 's', code: 'v', txt: 'medical record' }]);
    const ofType = rows.token.pid.findIndex((p) => p !== pid('Patient', 'identifier') && rows.token.code[rows.token.pid.indexOf(p)] === 'MR');
    expect(ofType).toBeGreaterThanOrEqual(0);
  });
  it('string: HumanName parts and Address parts, accent and case folded', () => {
    const rows = indexer.extract({ resourceType: 'Patient', name: [{ family: 'Ôtis', given: ['Zoë'] }], address: [{ city: 'Köln', line: ['Ring 1'] }] });
    expect(rowsOf(rows.string, pid('Patient', 'name')).map((r) => [r.norm, r.exact])).toEqual([['otis', 'Ôtis'], ['zoe', 'Zoë']]);
    expect(rowsOf(rows.string, pid('Patient', 'address-city')).map((r) => r.norm)).toEqual(['koln']);
  });
  it('date: ranges honour precision; Period ends open to infinity', () => {
    const rows = indexer.extract({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-02' } });
    expect(rowsOf(rows.date, pid('Encounter', 'date'))).toEqual([{ pid: pid('Encounter', 'date'), lo: '2020-02-01T00:00:00.000Z', hi: 'infinity' }]);
    const p = indexer.extract({ resourceType: 'Patient', birthDate: '1970' });
    expect(rowsOf(p.date, pid('Patient', 'birthdate'))[0]).toMatchObject({ lo: '1970-01-01T00:00:00.000Z', hi: '1970-12-31T23:59:59.999Z' });
  });
  it('quantity: stored unit plus UCUM canonical form; composite pairs code and value per node', () => {
    const rows = indexer.extract({
      resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
      valueQuantity: { value: 170, system: 'http://unitsofmeasure.org', code: 'cm' },
    });
    expect(rowsOf(rows.quantity, pid('Observation', 'value-quantity'))[0]).toMatchObject({ code: 'cm', lo: '170', ccode: 'm', clo: '1.7' });
    expect(rowsOf(rows.composite, pid('Observation', 'code-value-quantity'))[0]).toMatchObject({ a_sys: 'http://loinc.org', a_code: '8302-2', b_code: 'cm', b_lo: '170' });
  });
  it('reference: relative, versioned, absolute, identifier', () => {
    const rows = indexer.extract({
      resourceType: 'Observation', status: 'final', code: {},
      subject: { reference: 'Patient/1/_history/2' },
      performer: [{ reference: 'https://other.example/fhir/Practitioner/7' }, { identifier: { system: 'npi', value: '123' } }],
    });
    expect(rowsOf(rows.reference, pid('Observation', 'subject'))[0]).toMatchObject({ rtype: 'Patient', tid: '1', ver: '2', url: null });
    const perf = rowsOf(rows.reference, pid('Observation', 'performer'));
    expect(perf).toHaveLength(2);
    expect(perf[0]).toMatchObject({ rtype: 'Practitioner', tid: '7', url: 'https://other.example/fhir/Practitioner/7' });
    expect(perf[1]).toMatchObject({ idsys: 'npi', idval: '123' });
  });
  it('meta: _tag, _profile, _security, _source', () => {
    const rows = indexer.extract({ resourceType: 'Patient', meta: { tag: [{ system: 't', code: 'x' }], profile: ['http://p'], security: [{ system: 's', code: 'R' }], source: 'http://src' } });
    expect(rowsOf(rows.token, pid('Patient', '_tag'))[0]).toMatchObject({ sys: 't', code: 'x' });
    expect(rowsOf(rows.token, pid('Patient', '_security'))[0]).toMatchObject({ sys: 's', code: 'R' });
    expect(rowsOf(rows.uri, pid('Patient', '_profile'))[0]).toMatchObject({ uri: 'http://p' });
    expect(rowsOf(rows.uri, pid('Patient', '_source'))[0]).toMatchObject({ uri: 'http://src' });
  });
});

describe('values', () => {
  it('dateRange', () => {
    expect(dateRange('2020-03-04T10:00:00+02:00')).toEqual({ lo: Date.parse('2020-03-04T08:00:00Z'), hi: Date.parse('2020-03-04T08:00:00.999Z') });
    expect(dateRange('2020-13')).toBeUndefined();
    expect(dateRange("2020' OR 1=1")).toBeUndefined();
  });
  it('foldText, canonicalQuantity, parseReference', () => {
    expect(foldText('ÉVA Müller')).toBe('eva muller');
    expect(canonicalQuantity('mg', 5)).toEqual({ code: 'g', value: 0.005 });
    expect(canonicalQuantity('Cel', 37)).toBeUndefined();
    expect(parseReference('Patient/1')).toEqual({ type: 'Patient', id: '1', version: undefined, absolute: false });
    expect(parseReference('urn:uuid:1')).toBeUndefined();
  });
});
