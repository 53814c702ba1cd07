import { GraphQLError, Kind, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionNode } from 'graphql';

/**
 * The FHIR GraphQL directives reshape the result (hl7.org/fhir/R4/graphql.html#directives), which GraphQL execution
 * cannot do, so they run on the executed result, guided by the operation:
 *  - `@first`: a list becomes its first element;
 *  - `@flatten`: the field's children are merged into its parent; children collected from several items become
 *    lists (nulls left out);
 *  - `@singleton` (on a child of a flattened field): the child stays one value; more than one is an error;
 *  - `@slice(path:)` (with `@flatten`): each child's name gets `.<value at path>` (`$index`: the item's position);
 *    the keys were recorded by the list resolver, by response path, because the path need not be selected.
 */
export class FhirDirectives {
  constructor(
    private readonly fragments: Map<string, FragmentDefinitionNode>,
    private readonly slices: Map<string, string[]>,
  ) {}

  static uses(operation: OperationDefinitionNode, fragments: Iterable<FragmentDefinitionNode>): boolean {
    const names = new Set(['flatten', 'first', 'singleton', 'slice']);
    let found = false;
    const walk = (sel: readonly SelectionNode[]) => {
      for (const s of sel) {
        if (found) return;
        if (s.directives?.some((d) => names.has(d.name.value))) found = true;
        if ('selectionSet' in s && s.selectionSet) walk(s.selectionSet.selections);
      }
    };
    walk(operation.selectionSet.selections);
    for (const f of fragments) walk(f.selectionSet.selections);
    return found;
  }

  apply(data: Record<string, unknown>, operation: OperationDefinitionNode): Record<string, unknown> {
    return this.object(data, operation.selectionSet.selections, []);
  }

  private fields(selections: readonly SelectionNode[], out: FieldNode[] = []): FieldNode[] {
    for (const s of selections) {
      if (s.kind === Kind.FIELD) out.push(s);
      else if (s.kind === Kind.INLINE_FRAGMENT) this.fields(s.selectionSet.selections, out);
      else {
        const f = this.fragments.get(s.name.value);
        if (f) this.fields(f.selectionSet.selections, out);
      }
    }
    return out;
  }

  private object(obj: any, selections: readonly SelectionNode[], path: (string | number)[]): any {
    const out: Record<string, unknown> = {};
    for (const field of this.fields(selections)) {
      const key = field.alias?.value ?? field.name.value;
      if (!(key in obj)) continue;
      let value = obj[key];
      const sub = field.selectionSet?.selections;
      if (sub && value !== null && value !== undefined) {
        value = Array.isArray(value)
          ? value.map((v, i) => (v === null ? null : this.object(v, sub, [...path, key, i])))
          : this.object(value, sub, [...path, key]);
      }
      if (has(field, 'first') && Array.isArray(value)) value = value[0] ?? null;
      if (!has(field, 'flatten')) {
        out[key] = value;
        continue;
      }
      const items = Array.isArray(value) ? value : value === null || value === undefined ? [] : [value];
      const sliceKeys = has(field, 'slice') ? this.slices.get([...path, key].join('.')) : undefined;
      const singletons = sub ? this.singletons(sub) : new Set<string>();
      items.forEach((item, i) => {
        if (!item || typeof item !== 'object') return;
        for (const [childKey, childValue] of Object.entries(item)) {
          const name = sliceKeys ? `${childKey}.${sliceKeys[i]}` : childKey;
          merge(out, name, childValue, singletons.has(childKey));
        }
      });
    }
    return out;
  }

  /** Response keys marked @singleton among the children (and the children of flattened children). */
  private singletons(selections: readonly SelectionNode[]): Set<string> {
    const out = new Set<string>();
    for (const f of this.fields(selections)) {
      if (has(f, 'singleton')) out.add(f.alias?.value ?? f.name.value);
      if (has(f, 'flatten') && f.selectionSet) for (const k of this.singletons(f.selectionSet.selections)) out.add(k);
    }
    return out;
  }
}

function has(field: FieldNode, directive: string): boolean {
  return !!field.directives?.some((d) => d.name.value === directive);
}

function merge(out: Record<string, unknown>, name: string, value: unknown, singleton: boolean): void {
  const values = (Array.isArray(value) ? value : [value]).filter((v) => v !== null && v !== undefined);
  if (!values.length) return;
  if (singleton) {
    if (values.length > 1 || name in out) throw new GraphQLError(`@singleton ${name.split('.')[0]} has more than one value`, { extensions: { code: 'SINGLETON_HAS_MANY' } });
    out[name] = values[0];
    return;
  }
  out[name] = [...((out[name] as unknown[] | undefined) ?? []), ...values];
}
