import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/fhir/operation-outcome.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { FilterCompiler } from '../../src/fhir/search/query/filter-compiler.js';
import { decodeCursor, encodeCursor } from '../../src/fhir/search/query/cursor.js';
import { parseSearchParams } from '../../src/fhir/search/query/search-request-parser.js';
import { halfUnit, orValues, splitPrefix, splitUnescaped, unescapeValue } from '../../src/fhir/search/query/search-values.js';
import { SqlParams } from '../../src/fhir/search/query/sql-params.js';
import { Terminology } from '../../src/fhir/search/query/terminology.js';
import { parseCriteria } from '../../src/fhir/search/pg-search-engine.js';

const registry = new SearchParamRegistry();

function compile(type: string, name: string, value: string) {
  const sql = new SqlParams();
  const c = new FilterCompiler(registry, { sql, baseUrl: 'http://hub/fhir', terminology: new Terminology() });
  return { text: c.compile({ alias: 'r0', types: [type] }, name, value), values: sql.values };
}

describe('value syntax', () => {
  it('escapes, OR lists, prefixes, precision', () => {
    expect(orValues('a,b\\,c')).toEqual(['a', 'b,c']);
    expect(splitUnescaped('s\\|x|c', '|').map(unescapeValue)).toEqual(['s|x', 'c']);
    expect(splitPrefix('ge2020')).toEqual(['ge', '2020']);
    expect(splitPrefix('2020')).toEqual(['eq', '2020']);
    expect(splitPrefix('gene')).toEqual(['eq', 'gene']);
    expect(halfUnit('100')).toBe('5e-1');
    expect(halfUnit('1.50')).toBe('5e-3');
    expect(halfUnit('1e2')).toBe('5e1');
  });
  it('cursor round trip and rejection of tampered cursors', () => {
    const c = { dir: 'next' as const, rid: '42', keys: ['2020-01-01 00:00:00+00'] };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(() => decodeCursor('not json')).toThrow(FhirError);
    expect(() => decodeCursor(Buffer.from('["n","1; DROP"]').toString('base64url'))).toThrow(FhirError);
  });
  it('criteria strings', () => {
    expect(parseCriteria('identifier=http%3A%2F%2Fx%7C1&active=true')).toEqual([['identifier', 'http://x|1'], ['active', 'true']]);
    expect(parseCriteria('Patient?name=a')).toEqual([['name', 'a']]);
  });
});

describe('request parsing', () => {
  it('splits controls from filters and reports problems unless strict', () => {
    const p = parseSearchParams([['_count', '5'], ['name', 'x'], ['_sort', '-birthdate,_id'], ['_include', 'Patient:organization'], ['_count', 'abc']], registry, false);
    expect(p.count).toBe(5);
    expect(p.filters).toEqual([['name', 'x']]);
    expect(p.sort).toEqual([{ code: 'birthdate', desc: true }, { code: '_id', desc: false }]);
    expect(p.includes[0]).toMatchObject({ sourceType: 'Patient', code: 'organization', reverse: false });
    expect(p.issues).toHaveLength(1);
    expect(() => parseSearchParams([['_include', 'Patient:name']], registry, true)).toThrow(FhirError);
  });
});

describe('SQL compilation', () => {
  it('binds every value as a parameter', () => {
    const evil = "x'); DROP TABLE resource; --";
    for (const [type, name] of [['Patient', 'name'], ['Patient', 'identifier'], ['Observation', 'subject:identifier'], ['Patient', 'address:contains']]) {
      const { text, values } = compile(type, name, evil);
      expect(text.toUpperCase()).not.toContain('DROP');
      expect(values.some((v) => String(v).toUpperCase().includes('DROP')), name).toBe(true);
    }
  });
  it('chains and _has nest EXISTS over sp_reference', () => {
    expect(compile('Observation', 'subject:Patient.organization.name', 'x').text.match(/FROM sp_reference/g)).toHaveLength(2);
    expect(compile('Patient', '_has:Observation:patient:_has:AuditEvent:entity:agent', 'x').text.match(/FROM sp_reference/g)!.length).toBeGreaterThanOrEqual(3);
  });
  it('rejects unknown parameters, bad modifiers and malformed values with 400', () => {
    for (const [type, name, value] of [
      ['Patient', 'nope', 'x'],
      ['Patient', 'name:below', 'x'],
      ['Observation', 'date', '2020-99'],
      ['Observation', 'value-quantity', '1|2'],
      ['Observation', 'subject', 'not a ref!'],
      ['Observation', 'code-value-quantity', 'a'],
      ['Patient', '_has:Observation:code:code', 'x'],
      ['Observation', 'subject:Patient.name.foo', 'x'],
    ]) {
      expect(() => compile(type, name, value), `${name}=${value}`).toThrow(FhirError);
      try {
        compile(type, name, value);
      } catch (e) {
        expect((e as FhirError).status).toBe(400);
      }
    }
  });
  it('expands value sets and code system hierarchies', () => {
    const t = new Terminology();
    expect(t.expand('http://hl7.org/fhir/ValueSet/administrative-gender').map((c) => c.code).sort()).toEqual(['female', 'male', 'other', 'unknown']);
    expect(t.descendants('http://terminology.hl7.org/CodeSystem/v3-ActCode', 'nope')).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'nope' }]);
  });
});
