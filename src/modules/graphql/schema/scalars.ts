import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/**
 * FHIR GraphQL writes argument values loosely: `Patient(id: example)`, `name(use: official)`,
 * `ConditionList(_reference: patient)`. This scalar takes strings, bare names (enum literals), numbers and booleans
 * as their text, and lists of those (a repeated search parameter: AND).
 */
export const SearchValue = new GraphQLScalarType<string | string[], string | string[]>({
  name: 'SearchValue',
  description: 'A search or filter value: a string, a bare name, a number or a boolean (a list repeats the parameter)',
  serialize: (v) => v as string,
  parseValue: (v) => {
    if (Array.isArray(v)) return v.map((x) => text(x));
    return text(v);
  },
  parseLiteral: (node) => literal(node),
});

function text(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new GraphQLError(`A search value must be a string, a number or a boolean`);
}

function literal(node: ValueNode): string | string[] {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.ENUM:
    case Kind.INT:
    case Kind.FLOAT:
    case Kind.BOOLEAN:
      return String(node.value);
    case Kind.LIST:
      return node.values.map((v) => {
        const one = literal(v);
        if (Array.isArray(one)) throw new GraphQLError('Nested lists are not search values');
        return one;
      });
    default:
      throw new GraphQLError(`A search value must be a string, a name, a number or a boolean`);
  }
}

/** A resource given whole as JSON in mutation input (contained resources, Bundle entries): GraphQL has no input unions. */
export const ResourceJson = new GraphQLScalarType({
  name: 'ResourceJson',
  description: 'A FHIR resource as a JSON object',
  serialize: (v) => v,
  parseValue: (v) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new GraphQLError('A resource must be a JSON object');
    return v;
  },
  parseLiteral: (node, variables) => {
    const value = jsonLiteral(node, variables);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new GraphQLError('A resource must be an object');
    return value;
  },
});

function jsonLiteral(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => jsonLiteral(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, jsonLiteral(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
  }
}
