import { GraphQLError, isObjectType, Kind, parse, validateSchema, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { R4Definitions } from '../../src/fhir/definitions/r4-definitions.js';
import { FhirError } from '../../src/fhir/operation-outcome.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { FhirDirectives } from '../../src/modules/graphql/directives/fhir-directives.js';
import { graphqlPrincipal } from '../../src/modules/graphql/request-principal.js';
import { buildFhirSchema } from '../../src/modules/graphql/schema/fhir-schema.js';
import { QueryRewriter } from '../../src/modules/graphql/schema/query-rewriter.js';

const { schema } = buildFhirSchema(new SearchParamRegistry());
const rewriter = new QueryRewriter(schema);
const compact = (q: string) => q.replace(/\s+/g, ' ').trim();

describe('schema generated from the R4 definitions', () => {
  it('is valid and has the three query roots and three mutations of every resource type', () => {
    expect(validateSchema(schema)).toEqual([]);
    const query = schema.getQueryType()!.getFields();
    const mutation = schema.getMutationType()!.getFields();
    const types = [...R4Definitions.get().resourceTypes];
    expect(types).toHaveLength(146);
    for (const t of types) {
      for (const f of [t, `${t}List`, `${t}Connection`]) expect(query[f], f).toBeDefined();
      for (const f of [`${t}Create`, `${t}Update`, `${t}Delete`]) expect(mutation[f], f).toBeDefined();
    }
  });

  it('maps elements: primitives with _extensions, choice types, backbone elements, contentReference, lists with filters', () => {
    const patient = schema.getType('Patient');
    const observation = schema.getType('Observation');
    const questionnaireItem = schema.getType('QuestionnaireItem');
    if (!isObjectType(patient) || !isObjectType(observation) || !isObjectType(questionnaireItem)) throw new Error('types missing');
    const p = patient.getFields();
    expect(String(p.birthDate.type)).toBe('String');
    expect(String(p._birthDate.type)).toBe('Element');
    expect(String(p.active.type)).toBe('Boolean');
    expect(String(p.contact.type)).toBe('[PatientContact]');
    expect(String(p.deceasedBoolean.type)).toBe('Boolean');
    expect(p.name.args.map((a) => a.name)).toEqual(expect.arrayContaining(['use', 'family', 'fhirpath', '_count', '_offset']));
    expect(String(observation.getFields().valueQuantity.type)).toBe('Quantity');
    expect(String(observation.getFields().component.type)).toBe('[ObservationComponent]');
    expect(String(questionnaireItem.getFields().item.type)).toBe('[QuestionnaireItem]');
  });

  it('search arguments come from the search parameter registry (- becomes _)', () => {
    const args = schema.getQueryType()!.getFields().PatientList.args.map((a) => a.name);
    expect(args).toEqual(expect.arrayContaining(['family', 'birthdate', 'general_practitioner', 'address_city', '_id', '_lastUpdated', '_count', '_sort']));
    const reverse = (schema.getType('Patient') as any).getFields().ObservationList.args.map((a: any) => a.name);
    expect(reverse).toEqual(expect.arrayContaining(['_reference', 'code', 'date', '_count']));
  });
});

describe('query rewriter', () => {
  it('wraps an instance-level query in the resource root', () => {
    expect(compact(rewriter.rewrite('{ id active }', { type: 'Patient', id: 'example' }))).toBe('{ __instance: Patient(id: "example") { id active } }');
    expect(() => rewriter.rewrite('mutation { PatientDelete(id: "x") { id } }', { type: 'Patient', id: 'x' })).toThrow(FhirError);
  });

  it('puts fields of a referenced resource into fragments of the reference\'s target types that have them', () => {
    const out = compact(rewriter.rewrite('{ Observation(id: "1") { subject { resource { id active } } } }'));
    // Observation.subject → Patient | Group | Device | Location; of those only Patient and Group have `active`
    expect(out).toContain('resource { id ... on Group { active } ... on Patient { active } }');
    expect(compact(rewriter.rewrite('{ Observation(id: "1") { subject { resource(type: Patient) { active } } } }'))).toContain('... on Patient { active }');
  });

  it('gives a nullable Boolean used only by @include / @skip its neutral default', () => {
    expect(compact(rewriter.rewrite('query q($a: Boolean, $b: Boolean) { Patient(id: "x") { id @include(if: $a) active @skip(if: $b) } }'))).toContain('query q($a: Boolean = true, $b: Boolean = false)');
    expect(compact(rewriter.rewrite('query q($a: Boolean = false) { Patient(id: "x") { id @include(if: $a) } }'))).toContain('$a: Boolean = false');
  });

  it('leaves a query that does not parse to GraphQL to report', () => {
    expect(rewriter.rewrite('{ oops')).toBe('{ oops');
  });
});

describe('FHIR directives on the result', () => {
  const apply = (query: string, data: any, slices = new Map<string, string[]>()) => {
    const doc = parse(query);
    const op = doc.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION) as OperationDefinitionNode;
    return new FhirDirectives(new Map(), slices).apply(data, op);
  };
  const names = { name: [{ given: ['A', 'B'], family: 'F' }, { given: ['C'], family: null }] };

  it('@flatten merges children into the parent, @first keeps the first item', () => {
    expect(apply('{ name @flatten { given family } }', names)).toEqual({ given: ['A', 'B', 'C'], family: ['F'] });
    expect(apply('{ name @first { family } }', names)).toEqual({ name: { family: 'F' } });
    expect(apply('{ name @flatten { given @first } }', { name: [{ given: 'A' }, { given: 'C' }] })).toEqual({ given: ['A', 'C'] });
  });

  it('@singleton keeps one value and refuses several; @slice suffixes the keys', () => {
    expect(apply('{ name @flatten @first { family @singleton } }', names)).toEqual({ family: 'F' });
    expect(() => apply('{ name @flatten { given @singleton } }', names)).toThrow(GraphQLError);
    expect(apply('{ name @flatten @slice(path: "$index") { family @singleton } }', names, new Map([['name', ['0', '1']]]))).toEqual({ 'family.0': 'F' });
  });
});

describe('the principal of a GraphQL request', () => {
  const req = { ip: '10.0.0.1', method: 'POST', headers: { authorization: 'Bearer t', 'x-purpose-of-use': 'TREAT' } } as any;
  it('is the development principal without an authenticator, else what the authenticator makes of the request', async () => {
    expect(await graphqlPrincipal(req, '$graphql')).toMatchObject({ kind: 'system', address: '10.0.0.1' });
    const seen: any[] = [];
    const principal = await graphqlPrincipal(req, 'Patient/1/$graphql', {
      authenticate: (r) => {
        seen.push(r);
        return { kind: 'patient', patient: '1', scopes: ['patient/*.rs'] };
      },
    });
    expect(principal).toEqual({ kind: 'patient', patient: '1', scopes: ['patient/*.rs'] });
    expect(seen).toEqual([{ authorization: 'Bearer t', purposeOfUse: 'TREAT', address: '10.0.0.1', path: 'Patient/1/$graphql', method: 'POST' }]);
  });
});
