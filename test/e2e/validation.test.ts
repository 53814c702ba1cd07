import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

/**
 * Deliberately broken resources: each write is refused with 400 and an OperationOutcome whose issues name every
 * problem by a FHIRPath expression, and nothing is stored. Then $validate at type and instance level, with profiles.
 */

const uid = () => randomUUID().slice(0, 8);
const obs = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'test' }, ...extra });

interface Expected {
  /** FHIRPath location of the issue, as the hub must report it */
  expression: string;
  /** other locations that name the same problem equally well (e.g. the second value of a doubled choice element) */
  or?: string[];
  /** what the diagnostics must say */
  says: RegExp;
  /** the location names an element that is absent (required but missing): FHIRPath selects nothing there */
  absent?: boolean;
}

interface BrokenCase {
  name: string;
  resource: any;
  errors: Expected[];
}

const CASES: BrokenCase[] = [
  { name: 'unknown element', resource: { resourceType: 'Patient', foo: 'bar' }, errors: [{ expression: 'Patient.foo', says: /foo/ }] },
  {
    name: 'id with forbidden characters (an element of type id: meta.versionId)',
    resource: { resourceType: 'Patient', meta: { versionId: 'bad id!' } },
    errors: [{ expression: 'Patient.meta.versionId', says: /id/ }],
  },
  { name: 'date out of range', resource: { resourceType: 'Patient', birthDate: '1990-13-45' }, errors: [{ expression: 'Patient.birthDate', says: /date/i }] },
  { name: 'date in another format', resource: { resourceType: 'Patient', birthDate: '03/04/1990' }, errors: [{ expression: 'Patient.birthDate', says: /date/i }] },
  {
    name: 'dateTime with an impossible hour',
    resource: obs({ effectiveDateTime: '2020-01-01T25:00:00Z' }),
    errors: [{ expression: 'Observation.effective.ofType(dateTime)', says: /dateTime/ }],
  },
  {
    name: 'dateTime with a time but no time zone',
    resource: obs({ effectiveDateTime: '2020-02-03T10:00:00' }),
    errors: [{ expression: 'Observation.effective.ofType(dateTime)', says: /dateTime/ }],
  },
  {
    name: 'uri with a space',
    resource: { resourceType: 'Patient', identifier: [{ system: 'urn:has space', value: '1' }] },
    errors: [{ expression: 'Patient.identifier[0].system', says: /uri/i }],
  },
  { name: 'code with leading whitespace', resource: { resourceType: 'Patient', gender: ' male' }, errors: [{ expression: 'Patient.gender', says: /code/i }] },
  { name: 'boolean as a string', resource: { resourceType: 'Patient', active: 'yes' }, errors: [{ expression: 'Patient.active', says: /boolean/ }] },
  {
    name: 'decimal as a string',
    resource: obs({ valueQuantity: { value: '12.5', unit: 'kg' } }),
    errors: [{ expression: 'Observation.value.ofType(Quantity).value', says: /number/ }],
  },
  {
    name: 'integer with a fraction',
    resource: { resourceType: 'Patient', multipleBirthInteger: 1.5 },
    errors: [{ expression: 'Patient.multipleBirth.ofType(integer)', says: /integer/ }],
  },
  {
    name: 'cardinality: two values for a 0..1 element',
    resource: { resourceType: 'Patient', gender: ['male', 'female'] },
    errors: [{ expression: 'Patient.gender', says: /single/i }],
  },
  {
    name: 'cardinality: a 1..* element given as an empty list',
    resource: {
      resourceType: 'AllergyIntolerance',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      patient: { reference: 'Patient/x' },
      reaction: [{ manifestation: [] }],
    },
    errors: [{ expression: 'AllergyIntolerance.reaction[0].manifestation', says: /required|empty/i, absent: true }],
  },
  {
    name: 'cardinality: a 1..* element missing',
    resource: {
      resourceType: 'AllergyIntolerance',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      patient: { reference: 'Patient/x' },
      reaction: [{ description: 'rash' }],
    },
    errors: [{ expression: 'AllergyIntolerance.reaction[0].manifestation', says: /required/i, absent: true }],
  },
  { name: 'empty array', resource: { resourceType: 'Patient', name: [] }, errors: [{ expression: 'Patient.name', says: /empty/i, absent: true }] },
  {
    name: 'missing required element (Observation.status)',
    resource: { resourceType: 'Observation', code: { text: 'x' } },
    errors: [{ expression: 'Observation.status', says: /required/i, absent: true }],
  },
  { name: 'choice type that does not exist (valueFoo)', resource: obs({ valueFoo: 'x' }), errors: [{ expression: 'Observation.valueFoo', says: /valueFoo/ }] },
  {
    name: 'two types of one choice element',
    resource: obs({ valueString: 'x', valueBoolean: true }),
    errors: [{ expression: 'Observation.value', or: ['Observation.valueString', 'Observation.valueBoolean'], says: /value/ }],
  },
  {
    name: 'reference that is not a reference',
    resource: obs({ subject: { reference: 'not a reference' } }),
    errors: [{ expression: 'Observation.subject.reference', says: /reference/i }],
  },
  {
    name: 'reference with an invalid id',
    resource: obs({ subject: { reference: 'Patient/bad_id' } }),
    errors: [{ expression: 'Observation.subject.reference', says: /reference/i }],
  },
  {
    name: 'reference to a contained resource that is not there',
    resource: obs({ subject: { reference: '#nope' } }),
    errors: [{ expression: 'Observation.subject.reference', says: /contained/i }],
  },
  {
    name: 'invalid contained resource',
    resource: obs({ contained: [{ resourceType: 'Patient', id: 'p1', birthDate: 'soon', foo: 1 }], subject: { reference: '#p1' } }),
    errors: [
      { expression: 'Observation.contained[0].birthDate', says: /date/i },
      { expression: 'Observation.contained[0].foo', says: /foo/ },
    ],
  },
  {
    name: 'contained resource without a resourceType',
    resource: obs({ contained: [{ id: 'p1', gender: 'male' }], subject: { reference: '#p1' } }),
    errors: [{ expression: 'Observation.contained[0].resourceType', says: /resourceType/, absent: true }],
  },
  {
    name: 'several errors in one resource',
    resource: {
      resourceType: 'Patient',
      foo: 1,
      active: 'no',
      birthDate: 'yesterday',
      gender: ['male'],
      name: [{ family: '' }],
      deceasedBoolean: false,
      deceasedDateTime: '2020-01-01',
      managingOrganization: { reference: 'Organization/' },
    },
    errors: [
      { expression: 'Patient.foo', says: /foo/ },
      { expression: 'Patient.active', says: /boolean/ },
      { expression: 'Patient.birthDate', says: /date/i },
      { expression: 'Patient.gender', says: /single/i },
      { expression: 'Patient.name[0].family', says: /empty/i },
      { expression: 'Patient.deceased', or: ['Patient.deceasedBoolean', 'Patient.deceasedDateTime'], says: /deceased/ },
      { expression: 'Patient.managingOrganization.reference', says: /reference/i },
    ],
  },
];

/**
 * A choice element may be located as `Observation.value.ofType(Quantity)` (FHIRPath's type filter) or by its JSON
 * name `Observation.valueQuantity` (FHIRPath as FHIR uses it); both select the same value, so both are accepted.
 */
function canonical(expression: string | undefined): string | undefined {
  return expression?.replace(/\.(\w+)\.ofType\((\w)(\w*)\)/g, (_m, name, first, rest) => `.${name}${first.toUpperCase()}${rest}`);
}

function errorsOf(oo: any): any[] {
  return (oo?.issue ?? []).filter((i: any) => i.severity === 'error' || i.severity === 'fatal');
}

/** The reported location that stands for an expected one (itself, or one of its equally good alternatives). */
function locate(errors: any[], e: Expected): any {
  const accepted = [e.expression, ...(e.or ?? [])].map(canonical);
  return errors.find((i) => accepted.includes(canonical(i.expression?.[0])));
}

/** Every expected problem is reported once, at its location, and nothing else is reported as an error. */
function expectIssues(oo: any, c: BrokenCase): void {
  expect(oo.resourceType).toBe('OperationOutcome');
  const errors = errorsOf(oo);
  for (const i of errors) expect(i.expression, JSON.stringify(i)).toHaveLength(1);
  expect(errors, JSON.stringify(oo.issue)).toHaveLength(c.errors.length);
  for (const e of c.errors) {
    const found = locate(errors, e);
    expect(found, `${e.expression} in ${JSON.stringify(oo.issue)}`).toBeDefined();
    expect(found.diagnostics).toMatch(e.says);
    expect(found.code).toMatch(/^(structure|required|value|invariant|invalid)$/);
  }
}

/** An issue location is FHIRPath that selects the offending value of the submitted resource. */
function expectFhirPath(resource: any, e: Expected, reported: any): void {
  const expression = locate(errorsOf(reported), e).expression[0];
  const result = fhirpath.evaluate(resource, expression, undefined, r4Model as any) as unknown[];
  if (e.absent) {
    const parent = expression.slice(0, expression.lastIndexOf('.'));
    expect(fhirpath.evaluate(resource, parent, undefined, r4Model as any), parent).not.toHaveLength(0);
  } else {
    expect(result, expression).not.toHaveLength(0);
  }
}

describe('invalid resources are refused with every issue located, and nothing is stored', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const id = `val-${uid()}`;
    const resource = { ...c.resource, id };
    const type = resource.resourceType;

    const put = await http('PUT', `${type}/${id}`, resource);
    expect(put.status, put.text).toBe(400);
    expectIssues(put.body, c);
    for (const e of c.errors) expectFhirPath(resource, e, put.body);

    const { id: _drop, ...forCreate } = resource;
    const post = await http('POST', type, forCreate);
    expect(post.status, post.text).toBe(400);
    expectIssues(post.body, c);
    expect(post.headers.get('location')).toBeNull();

    const read = await http('GET', `${type}/${id}`);
    expect(read.status).toBe(404);
    expect(read.body.resourceType).toBe('OperationOutcome');

    // $validate reports exactly the same issues, with 200
    const validate = await http('POST', `${type}/$validate`, resource);
    expect(validate.status).toBe(200);
    expectIssues(validate.body, c);
  });

  it('a resourceType that does not match the URL is refused, and nothing is stored', async () => {
    const id = `val-${uid()}`;
    const put = await http('PUT', `Patient/${id}`, { resourceType: 'Observation', id, status: 'final', code: { text: 'x' } });
    expect(put.status).toBe(400);
    expect(put.body.resourceType).toBe('OperationOutcome');
    expect(put.body.issue[0].diagnostics).toMatch(/Observation/);
    expect((await http('GET', `Patient/${id}`)).status).toBe(404);
    expect((await http('GET', `Observation/${id}`)).status).toBe(404);
  });

  it('an unknown resourceType is refused', async () => {
    const id = `val-${uid()}`;
    const put = await http('PUT', `Patient/${id}`, { resourceType: 'Foo', id });
    expect(put.status).toBe(400);
    expect(put.body.issue[0].diagnostics).toMatch(/Foo/);
    const missing = await http('POST', 'Patient', { id, gender: 'male' });
    expect(missing.status).toBe(400);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    expect((await http('GET', `Patient/${id}`)).status).toBe(404);
    // $validate of a body with an unknown type names the problem
    const validate = await http('POST', 'Patient/$validate', { resourceType: 'Foo' });
    expect(validate.status).toBe(200);
    expect(errorsOf(validate.body).length).toBeGreaterThan(0);
  });

  it('a resource id with forbidden characters is refused (in the URL) and reported by $validate (in the body)', async () => {
    expect((await http('PUT', 'Patient/bad%20id!', { resourceType: 'Patient', id: 'bad id!' })).status).toBe(400);
    const validate = await http('POST', 'Patient/$validate', { resourceType: 'Patient', id: 'bad id!' });
    expect(validate.status).toBe(200);
    expect(errorsOf(validate.body).map((i) => i.expression?.[0])).toEqual(['Patient.id']);
    const long = await http('POST', 'Patient/$validate', { resourceType: 'Patient', id: 'a'.repeat(65) });
    expect(errorsOf(long.body).map((i) => i.expression?.[0])).toEqual(['Patient.id']);
  });

  it('a body that is not an object is refused', async () => {
    for (const body of ['[]', '"Patient"', '42', 'null']) {
      const res = await http('POST', 'Patient', body);
      expect(res.status, body).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });
});

const EXAMPLES = path.resolve('node_modules/hl7.fhir.r4.examples');
const example = (file: string) => JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'));

describe('$validate', () => {
  const valid = { resourceType: 'Patient', name: [{ family: 'Valid', given: ['Val'] }], gender: 'female', birthDate: '1980-02-29' };

  it('type level: a valid resource is All OK, and nothing is stored', async () => {
    const id = `val-${uid()}`;
    const res = await http('POST', 'Patient/$validate', { ...valid, id });
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(errorsOf(res.body)).toEqual([]);
    expect(res.body.issue.some((i: any) => i.severity === 'information')).toBe(true);
    expect((await http('GET', `Patient/${id}`)).status).toBe(404);
  });

  it('type level: the resource may come in a Parameters with mode', async () => {
    const res = await http('POST', 'Patient/$validate', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: { ...valid, birthDate: 'not-a-date' } },
        { name: 'mode', valueCode: 'create' },
      ],
    });
    expect(res.status).toBe(200);
    expect(errorsOf(res.body).map((i) => i.expression?.[0])).toEqual(['Patient.birthDate']);
  });

  it('type level: a resource of another type than the URL is an error', async () => {
    const res = await http('POST', 'Observation/$validate', valid);
    expect(res.status).toBe(200);
    expect(errorsOf(res.body).length).toBeGreaterThan(0);
    expect(JSON.stringify(errorsOf(res.body))).toMatch(/Patient/);
  });

  it('instance level: validates the stored version (GET) or a proposed one (POST)', async () => {
    const id = `val-${uid()}`;
    expect((await http('PUT', `Patient/${id}`, { ...valid, id })).status).toBe(201);

    const stored = await http('GET', `Patient/${id}/$validate`);
    expect(stored.status).toBe(200);
    expect(errorsOf(stored.body)).toEqual([]);

    const proposed = await http('POST', `Patient/${id}/$validate`, { ...valid, id, active: 'yes' });
    expect(proposed.status).toBe(200);
    expect(errorsOf(proposed.body).map((i) => i.expression?.[0])).toEqual(['Patient.active']);

    const otherId = await http('POST', `Patient/${id}/$validate`, { ...valid, id: `${id}-other` });
    expect(errorsOf(otherId.body).length).toBe(1);
    expect(errorsOf(otherId.body)[0].diagnostics).toContain(`${id}-other`);

    const del = await http('POST', `Patient/${id}/$validate`, { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'delete' }] });
    expect(del.status).toBe(200);
    expect(errorsOf(del.body)).toEqual([]);

    // the stored resource is unchanged by all this
    const read = await http('GET', `Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.active).toBeUndefined();
  });

  it('instance level on an unknown id is 404', async () => {
    const res = await http('GET', `Patient/val-${uid()}/$validate`);
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('on an unknown resource type is 404', async () => {
    const res = await http('POST', 'Foo/$validate', valid);
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  describe('against an R4 core profile', () => {
    const VITALSIGNS = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';
    const BODYWEIGHT = 'http://hl7.org/fhir/StructureDefinition/bodyweight';
    const weight = example('Observation-example.json'); // LOINC 29463-7 body weight, a vital sign
    const heartRate = example('Observation-heart-rate.json'); // LOINC 8867-4

    it('a body weight conforms to bodyweight and vitalsigns (profile as a URL parameter)', async () => {
      expect(weight.code.coding.some((c: any) => c.system === 'http://loinc.org' && c.code === '29463-7')).toBe(true);
      for (const profile of [BODYWEIGHT, VITALSIGNS]) {
        const res = await http('POST', `Observation/$validate?profile=${encodeURIComponent(profile)}`, weight);
        expect(res.status, profile).toBe(200);
        expect(errorsOf(res.body), profile).toEqual([]);
      }
    });

    it('a heart rate is a vital sign but not a body weight (profile as a Parameters canonical)', async () => {
      expect(heartRate.code.coding.some((c: any) => c.code === '29463-7')).toBe(false);
      const asParams = (profile: string) => ({
        resourceType: 'Parameters',
        parameter: [
          { name: 'resource', resource: heartRate },
          { name: 'profile', valueCanonical: profile },
        ],
      });
      const vs = await http('POST', 'Observation/$validate', asParams(VITALSIGNS));
      expect(errorsOf(vs.body)).toEqual([]);
      const bw = await http('POST', 'Observation/$validate', asParams(BODYWEIGHT));
      expect(bw.status).toBe(200);
      const errors = errorsOf(bw.body);
      expect(errors).toHaveLength(1);
      expect(errors[0].expression).toEqual(['Observation.code.coding']);
      expect(errors[0].diagnostics).toMatch(/slice/i);
      // without a profile, the same heart rate is a valid Observation
      expect(errorsOf((await http('POST', 'Observation/$validate', heartRate)).body)).toEqual([]);
    });

    it('the profile adds its own rules to the base ones (vital sign without category and subject)', async () => {
      const { category: _c, subject: _s, ...bare } = weight;
      const base = await http('POST', 'Observation/$validate', bare);
      expect(errorsOf(base.body)).toEqual([]);
      const res = await http('POST', `Observation/$validate?profile=${encodeURIComponent(VITALSIGNS)}`, bare);
      expect(errorsOf(res.body).map((i) => i.expression?.[0]).sort()).toEqual(['Observation.category', 'Observation.subject']);
    });

    it('a base resource StructureDefinition works as a profile too', async () => {
      const res = await http('POST', `Patient/$validate?profile=${encodeURIComponent('http://hl7.org/fhir/StructureDefinition/Patient')}`, {
        ...valid,
        gender: ['female'],
      });
      expect(errorsOf(res.body).map((i) => i.expression?.[0])).toEqual(['Patient.gender']);
    });
  });
});
