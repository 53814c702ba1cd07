import {
  DirectiveLocation,
  GraphQLBoolean,
  GraphQLDirective,
  GraphQLEnumType,
  GraphQLFloat,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLInterfaceType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  specifiedDirectives,
  isObjectType,
  type GraphQLArgument,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLFieldConfigMap,
  type GraphQLInputFieldConfigMap,
  type GraphQLInputType,
  type GraphQLOutputType,
  type GraphQLScalarType,
} from 'graphql';
import type { SearchParamRegistry } from '../../../fhir/search/params/search-param-registry.js';
import { complexElement, LIST_CONTROL, referencedResource, type GraphqlContext } from '../resolvers/element-resolvers.js';
import { RootResolvers } from '../resolvers/root-resolvers.js';
import { ResourceJson, SearchValue } from './scalars.js';
import { SearchArguments } from './search-arguments.js';
import { StructureModel, type ElementModel, type TypeModel } from './structure-model.js';

/** FHIR primitive → GraphQL scalar (everything that is not a number or a boolean is text in JSON). */
function scalarOf(code: string): GraphQLScalarType {
  switch (code) {
    case 'boolean':
      return GraphQLBoolean;
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
      return GraphQLInt;
    case 'decimal':
      return GraphQLFloat;
    default:
      return GraphQLString;
  }
}

const list = <T extends GraphQLOutputType | GraphQLInputType>(t: T, array: boolean) => (array ? new GraphQLList(t) : t);

/** The FHIR GraphQL directives (hl7.org/fhir/R4/graphql.html#directives), applied to the result after execution. */
export const FHIR_DIRECTIVES = [
  new GraphQLDirective({ name: 'flatten', locations: [DirectiveLocation.FIELD], description: "Merge this field's children into its parent" }),
  new GraphQLDirective({ name: 'first', locations: [DirectiveLocation.FIELD], description: 'Only the first element of a list' }),
  new GraphQLDirective({ name: 'singleton', locations: [DirectiveLocation.FIELD], description: 'One value, not a list, under @flatten (more is an error)' }),
  new GraphQLDirective({
    name: 'slice',
    locations: [DirectiveLocation.FIELD],
    description: 'Under @flatten: suffix the children\'s names with the value at `path` ("$index": the position)',
    args: { path: { type: new GraphQLNonNull(GraphQLString) } },
  }),
];

export interface FhirSchema {
  schema: GraphQLSchema;
  model: StructureModel;
  searchArguments: SearchArguments;
}

/**
 * Builds the FHIR GraphQL schema from the R4 StructureDefinitions (every resource type, datatype and backbone
 * element) and the search parameter registry (search arguments), following hl7.org/fhir/R4/graphql.html:
 * `Patient(id:)`, `PatientList(<search>)`, `PatientConnection(<search>, _cursor)`, reverse references
 * (`ObservationList(_reference: patient)`) on every resource a reference search parameter can point to, and the
 * mutations `PatientCreate(res:)`, `PatientUpdate(id:, res:)`, `PatientDelete(id:)`.
 */
export function buildFhirSchema(registry: SearchParamRegistry): FhirSchema {
  const model = StructureModel.build();
  const searchArguments = new SearchArguments(registry);
  const roots = new RootResolvers(searchArguments);
  const outputs = new Map<string, GraphQLObjectType>();
  const inputs = new Map<string, GraphQLInputObjectType>();

  const resourceTypeEnum = new GraphQLEnumType({
    name: 'ResourceType',
    values: Object.fromEntries(model.resourceTypes.map((t) => [t, { value: t }])),
  });

  const resourceInterface: GraphQLInterfaceType = new GraphQLInterfaceType({
    name: 'Resource',
    description: 'Any FHIR resource; select the fields of a type with `... on Patient { }` (or directly, see README)',
    fields: () => ({
      id: { type: GraphQLString },
      meta: { type: output('Meta') },
      implicitRules: { type: GraphQLString },
      language: { type: GraphQLString },
      resourceType: { type: GraphQLString },
    }),
    resolveType: (value: any) => (model.resourceTypes.includes(value?.resourceType) ? value.resourceType : undefined),
  });

  /** list filter arguments: the values of the item type's primitive children, fhirpath, _count, _offset */
  const filterArgs = new Map<string, GraphQLFieldConfigArgumentMap>();
  const filtersOf = (type: TypeModel): GraphQLFieldConfigArgumentMap => {
    let args = filterArgs.get(type.name);
    if (!args) {
      args = {};
      for (const e of type.elements) if (e.kind === 'primitive' && !e.name.startsWith('_') && !LIST_CONTROL.has(e.name)) args[e.name] = { type: SearchValue };
      args.fhirpath = { type: GraphQLString, description: 'keep the items for which this FHIRPath expression is true' };
      args._count = { type: GraphQLInt };
      args._offset = { type: GraphQLInt };
      filterArgs.set(type.name, args);
    }
    return args;
  };

  const elementFields = (type: TypeModel): GraphQLFieldConfigMap<any, GraphqlContext> => {
    const fields: GraphQLFieldConfigMap<any, GraphqlContext> = {};
    for (const e of type.elements) addElement(fields, e);
    if (type.kind === 'resource') {
      fields.resourceType = { type: GraphQLString, resolve: (r: any) => r.resourceType };
      for (const referrer of searchArguments.referrers(type.name)) {
        fields[`${referrer}List`] = {
          type: new GraphQLList(output(referrer)),
          args: searchArguments.reverse(referrer),
          description: `${referrer} resources whose _reference search parameter points to this resource`,
          resolve: roots.reverse(referrer),
        };
      }
    }
    if (type.name === 'Reference') {
      fields.resource = {
        type: resourceInterface,
        args: { optional: { type: GraphQLBoolean }, type: { type: resourceTypeEnum } },
        description: 'The referenced resource (a contained one for #id); unresolvable is an error unless optional: true',
        resolve: referencedResource,
      };
    }
    return fields;
  };

  const addElement = (fields: GraphQLFieldConfigMap<any, GraphqlContext>, e: ElementModel) => {
    if (e.kind === 'primitive') {
      fields[e.name] = { type: list(scalarOf(e.type), e.array) };
      // primitive extensions and ids: `_birthDate { extension { ... } }`
      fields[`_${e.name}`] = { type: list(output('Element'), e.array) };
    } else if (e.kind === 'resource') {
      fields[e.name] = { type: list(resourceInterface, e.array), resolve: complexElement(e.name, e.array) };
    } else {
      const target = model.types.get(e.type);
      if (!target) return;
      fields[e.name] = {
        type: list(output(e.type), e.array),
        args: e.array ? filtersOf(target) : undefined,
        resolve: complexElement(e.name, e.array),
        extensions: e.targets ? { fhirTargets: e.targets } : undefined,
      };
    }
  };

  function output(name: string): GraphQLObjectType {
    let t = outputs.get(name);
    if (!t) {
      const type = model.types.get(name);
      if (!type) throw new Error(`No FHIR type ${name}`);
      t = new GraphQLObjectType<any, GraphqlContext>({
        name,
        interfaces: type.kind === 'resource' ? [resourceInterface] : [],
        fields: () => elementFields(type),
      });
      outputs.set(name, t);
    }
    return t;
  }

  const elementInput = new GraphQLInputObjectType({
    name: 'ElementInput',
    fields: () => ({ id: { type: GraphQLString }, extension: { type: new GraphQLList(input('Extension')) } }),
  });

  function input(name: string): GraphQLInputObjectType {
    let t = inputs.get(name);
    if (!t) {
      const type = model.types.get(name)!;
      t = new GraphQLInputObjectType({
        // StructureMap.group.input is itself a backbone type named StructureMapGroupInput
        name: model.types.has(`${name}Input`) ? `${name}_Input` : `${name}Input`,
        fields: () => {
          const fields: GraphQLInputFieldConfigMap = {};
          if (type.kind === 'resource') fields.resourceType = { type: GraphQLString };
          for (const e of type.elements) {
            if (e.kind === 'primitive') {
              fields[e.name] = { type: list(scalarOf(e.type), e.array) };
              fields[`_${e.name}`] = { type: list(elementInput, e.array) };
            } else if (e.kind === 'resource') {
              fields[e.name] = { type: list(ResourceJson, e.array) };
            } else if (model.types.has(e.type)) {
              fields[e.name] = { type: list(input(e.type), e.array) };
            }
          }
          return fields;
        },
      });
      inputs.set(name, t);
    }
    return t;
  }

  const connection = (type: string) => {
    const edge = new GraphQLObjectType({
      name: `${type}Edge`,
      fields: () => ({ mode: { type: GraphQLString }, score: { type: GraphQLFloat }, resource: { type: output(type) } }),
    });
    return new GraphQLObjectType({
      name: `${type}Connection`,
      fields: () => ({
        count: { type: GraphQLInt },
        offset: { type: GraphQLInt },
        pagesize: { type: GraphQLInt },
        first: { type: GraphQLString },
        previous: { type: GraphQLString },
        next: { type: GraphQLString },
        last: { type: GraphQLString },
        edges: { type: new GraphQLList(edge) },
      }),
    });
  };

  const idArg = { type: SearchValue, description: 'the resource id' };
  const query = new GraphQLObjectType<unknown, GraphqlContext>({
    name: 'Query',
    fields: () => {
      const fields: GraphQLFieldConfigMap<unknown, GraphqlContext> = {};
      for (const t of model.resourceTypes) {
        fields[t] = { type: output(t), args: { id: idArg, _id: idArg }, resolve: roots.read(t) };
        fields[`${t}List`] = { type: new GraphQLList(output(t)), args: searchArguments.forType(t), resolve: roots.list(t) };
        fields[`${t}Connection`] = { type: connection(t), args: searchArguments.connection(t), resolve: roots.connection(t) };
      }
      return fields;
    },
  });
  const mutation = new GraphQLObjectType<unknown, GraphqlContext>({
    name: 'Mutation',
    fields: () => {
      const fields: GraphQLFieldConfigMap<unknown, GraphqlContext> = {};
      const id = { type: new GraphQLNonNull(SearchValue) };
      for (const t of model.resourceTypes) {
        const res = { type: new GraphQLNonNull(input(t)) };
        fields[`${t}Create`] = { type: output(t), args: { res }, resolve: roots.create(t) };
        fields[`${t}Update`] = { type: output(t), args: { id, res }, resolve: roots.update(t) };
        fields[`${t}Delete`] = { type: output('OperationOutcome'), args: { id }, resolve: roots.delete(t) };
      }
      return fields;
    },
  });

  const schema = new GraphQLSchema({
    query,
    mutation,
    // every resource type is reachable through Resource (references, contained), not only from the roots
    types: model.resourceTypes.map(output),
    directives: [...specifiedDirectives, ...FHIR_DIRECTIVES],
  });
  shareArguments(schema);
  return { schema, model, searchArguments };
}

/**
 * graphql-js gives every field its own argument objects, and the same search arguments sit on thousands of fields
 * (reverse references on every resource they may point to, list filters on every list): ~220,000 argument
 * objects, ~45 MB. Fields whose arguments are the same (same names, types and descriptions, from one shared config)
 * share one array instead.
 */
function shareArguments(schema: GraphQLSchema): void {
  const shared = new Map<string, readonly GraphQLArgument[]>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.args.length < 3) continue;
      const key = field.args.map((a) => `${a.name}:${String(a.type)}:${a.description ?? ''}`).join(',');
      const same = shared.get(key);
      if (same) (field as { args: readonly GraphQLArgument[] }).args = same;
      else shared.set(key, field.args);
    }
  }
}
