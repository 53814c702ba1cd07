import {
  getNamedType,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  Kind,
  parse,
  print,
  type DocumentNode,
  type FieldNode,
  type GraphQLCompositeType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { FhirError } from '../../../fhir/operation-outcome.js';

/** The response key the instance-level root is executed under, and taken out of again. */
export const INSTANCE_ROOT = '__instance';

/**
 * FHIR GraphQL is written more loosely than GraphQL validation allows; the door rewrites a query into standard
 * GraphQL with the same meaning before executing it:
 *  - instance level (`Patient/example/$graphql`): the query's selections are wrapped in `__instance: Patient(id:)`,
 *    so the resource is the query root (its reverse references included);
 *  - `resource { active }` on a reference: fields of the referenced resource selected directly are put in
 *    `... on T { }` for each type T the reference may point to (its targetProfiles, or `type:`) that has the field;
 *  - a nullable Boolean variable used only by `@include`/`@skip` without a default gets the neutral default
 *    (included, not skipped), as if the directive were absent.
 * A query that does not parse is left alone, for GraphQL to report.
 */
export class QueryRewriter {
  private readonly resourceTypes: GraphQLObjectType[];

  constructor(private readonly schema: GraphQLSchema) {
    const resource = schema.getType('Resource');
    this.resourceTypes = resource && isAbstractType(resource) ? [...schema.getPossibleTypes(resource)] : [];
  }

  /** Rewritten queries by text (clients send the same few queries again and again). */
  private readonly cache = new Map<string, string>();

  rewrite(query: string, instance?: { type: string; id: string }): string {
    const key = instance ? `${instance.type}/${instance.id}\n${query}` : query;
    let out = this.cache.get(key);
    if (out === undefined) {
      out = this.rewriteUncached(query, instance);
      if (this.cache.size >= 1000) this.cache.delete(this.cache.keys().next().value!);
      if (query.length < 20_000) this.cache.set(key, out);
    }
    return out;
  }

  private rewriteUncached(query: string, instance?: { type: string; id: string }): string {
    let doc: DocumentNode;
    try {
      doc = parse(query);
    } catch {
      return query;
    }
    const definitions = doc.definitions.map((def) => {
      if (def.kind === Kind.OPERATION_DEFINITION) {
        let op = instance ? this.wrap(def, instance) : def;
        const root = op.operation === 'mutation' ? this.schema.getMutationType() : this.schema.getQueryType();
        if (root) op = { ...op, selectionSet: this.selectionSet(op.selectionSet, root, undefined) };
        return this.variableDefaults(op);
      }
      if (def.kind === Kind.FRAGMENT_DEFINITION) {
        const type = this.schema.getType(def.typeCondition.name.value);
        if (type && (isObjectType(type) || isInterfaceType(type))) return { ...def, selectionSet: this.selectionSet(def.selectionSet, type, undefined) };
      }
      return def;
    });
    return print({ ...doc, definitions });
  }

  private wrap(op: OperationDefinitionNode, instance: { type: string; id: string }): OperationDefinitionNode {
    if (op.operation !== 'query') throw FhirError.badRequest('Only queries are allowed on a resource instance; send mutations to [base]/$graphql');
    const field: FieldNode = {
      kind: Kind.FIELD,
      alias: { kind: Kind.NAME, value: INSTANCE_ROOT },
      name: { kind: Kind.NAME, value: instance.type },
      arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'id' }, value: { kind: Kind.STRING, value: instance.id } }],
      selectionSet: op.selectionSet,
    };
    return { ...op, selectionSet: { kind: Kind.SELECTION_SET, selections: [field] } };
  }

  private selectionSet(set: SelectionSetNode, parent: GraphQLCompositeType, targets: string[] | undefined): SelectionSetNode {
    const kept: SelectionNode[] = [];
    const bare: FieldNode[] = [];
    const fields = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields() : {};
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const def = fields[sel.name.value];
        if (!def && isAbstractType(parent) && !sel.name.value.startsWith('__')) {
          bare.push(sel);
          continue;
        }
        if (def && sel.selectionSet) {
          const child = getNamedType(def.type) as GraphQLCompositeType;
          let childTargets = (def.extensions as any)?.fhirTargets as string[] | undefined;
          if (sel.name.value === 'resource') {
            const typeArg = sel.arguments?.find((a) => a.name.value === 'type')?.value;
            childTargets = typeArg && (typeArg.kind === Kind.ENUM || typeArg.kind === Kind.STRING) ? [typeArg.value] : targets;
          }
          kept.push({ ...sel, selectionSet: this.selectionSet(sel.selectionSet, child, childTargets) });
          continue;
        }
        kept.push(sel);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition ? this.schema.getType(sel.typeCondition.name.value) : parent;
        kept.push(cond && (isObjectType(cond) || isInterfaceType(cond)) ? { ...sel, selectionSet: this.selectionSet(sel.selectionSet, cond, targets) } : sel);
      } else {
        kept.push(sel);
      }
    }
    if (bare.length) kept.push(...this.typedFragments(bare, targets));
    return { ...set, selections: kept };
  }

  /** `... on T { f }` for each candidate type having f; where types disagree on f's type, the most common wins. */
  private typedFragments(bare: FieldNode[], targets: string[] | undefined): SelectionNode[] {
    const candidates = targets?.length ? this.resourceTypes.filter((t) => targets.includes(t.name)) : this.resourceTypes;
    const perType = new Map<GraphQLObjectType, FieldNode[]>();
    for (const field of bare) {
      const having = candidates.filter((t) => t.getFields()[field.name.value]);
      if (!having.length) {
        // no type has it: keep it on the first candidate's fragment so that validation names the field
        const t = candidates[0] ?? this.resourceTypes[0];
        perType.set(t, [...(perType.get(t) ?? []), field]);
        continue;
      }
      const shapes = new Map<string, number>();
      for (const t of having) {
        const s = String(t.getFields()[field.name.value].type);
        shapes.set(s, (shapes.get(s) ?? 0) + 1);
      }
      const shape = [...shapes].sort((a, b) => b[1] - a[1])[0][0];
      for (const t of having) if (String(t.getFields()[field.name.value].type) === shape) perType.set(t, [...(perType.get(t) ?? []), field]);
    }
    return [...perType].map(([type, fields]) => ({
      kind: Kind.INLINE_FRAGMENT,
      typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: type.name } },
      selectionSet: this.selectionSet({ kind: Kind.SELECTION_SET, selections: fields }, type, undefined),
    }));
  }

  private variableDefaults(op: OperationDefinitionNode): OperationDefinitionNode {
    if (!op.variableDefinitions?.length) return op;
    const uses = new Map<string, Set<string>>(); // variable → directives using it as `if`
    const other = new Set<string>();
    const scan = (node: any, inDirective?: string) => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) return node.forEach((n) => scan(n, inDirective));
      if (node.kind === Kind.DIRECTIVE) return node.arguments?.forEach((a: any) => scan(a.value, node.name.value));
      if (node.kind === Kind.VARIABLE) {
        if (inDirective === 'include' || inDirective === 'skip') uses.set(node.name.value, new Set([...(uses.get(node.name.value) ?? []), inDirective]));
        else other.add(node.name.value);
        return;
      }
      for (const [k, v] of Object.entries(node)) if (k !== 'loc' && k !== 'variableDefinitions') scan(v, inDirective);
    };
    scan(op.selectionSet);
    const variableDefinitions = op.variableDefinitions.map((v) => {
      const name = v.variable.name.value;
      const dirs = uses.get(name);
      if (v.defaultValue || other.has(name) || !dirs || dirs.size !== 1 || v.type.kind !== Kind.NAMED_TYPE || v.type.name.value !== 'Boolean') return v;
      return { ...v, defaultValue: { kind: Kind.BOOLEAN, value: dirs.has('include') } as const };
    });
    return { ...op, variableDefinitions };
  }
}
