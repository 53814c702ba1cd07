import { GraphQLError, Kind, type ASTVisitor, type FieldNode, type SelectionSetNode, type ValidationContext, type ValueNode } from 'graphql';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  /** what `_count` is when a list field does not give it */
  defaultPageSize: number;
  /** what a `_count` given by a variable may be at most (validation runs before variables are known) */
  maxPageSize: number;
}

/** Fields that read resources: roots, reverse references (`...List`, `...Connection`) and `Reference.resource`. */
function fetchMultiplier(field: FieldNode, parentIsQuery: boolean, limits: QueryLimits): number | undefined {
  const name = field.name.value;
  if (name === 'resource') return 1;
  if (/^[A-Z][A-Za-z]+(List|Connection)$/.test(name)) {
    const count = field.arguments?.find((a) => a.name.value === '_count')?.value;
    return Math.max(1, count?.kind === Kind.VARIABLE ? limits.maxPageSize : (numberOf(count) ?? limits.defaultPageSize));
  }
  if (parentIsQuery && /^[A-Z][A-Za-z]+$/.test(name)) return 1;
  return undefined;
}

function numberOf(v: ValueNode | undefined): number | undefined {
  return v?.kind === Kind.INT ? Number(v.value) : undefined;
}

/**
 * Depth and cost limits, as validation rules: a query over the limits is refused before anything is read.
 * Depth counts nested fields (fragments expanded; introspection fields are not counted). Cost estimates the
 * resources read: every root, list, connection or reverse reference costs its `_count` (or the default page size)
 * times the cost multiplier of the fields around it, and every `resource` of a reference 1 each time.
 */
export function queryLimitRules(limits: QueryLimits) {
  return [
    (context: ValidationContext): ASTVisitor => ({
      OperationDefinition(op) {
        const fragments = new Map(context.getDocument().definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d: any) => [d.name.value, d]));
        let cost = 0;
        const walk = (set: SelectionSetNode, depth: number, multiplier: number, isRoot: boolean, seen: Set<string>): number => {
          let deepest = depth;
          for (const sel of set.selections) {
            if (sel.kind === Kind.FIELD) {
              if (sel.name.value.startsWith('__')) continue;
              const m = fetchMultiplier(sel, isRoot, limits);
              let inner = multiplier;
              if (m !== undefined) {
                cost += multiplier * (sel.name.value === 'resource' ? 1 : m);
                inner = multiplier * m;
              }
              deepest = Math.max(deepest, sel.selectionSet ? walk(sel.selectionSet, depth + 1, inner, false, seen) : depth + 1);
            } else if (sel.kind === Kind.INLINE_FRAGMENT) {
              deepest = Math.max(deepest, walk(sel.selectionSet, depth, multiplier, isRoot, seen));
            } else {
              const f = fragments.get(sel.name.value);
              if (!f || seen.has(sel.name.value)) continue; // unknown or cyclic: other rules report it
              deepest = Math.max(deepest, walk(f.selectionSet, depth, multiplier, isRoot, new Set([...seen, sel.name.value])));
            }
            if (cost > limits.maxCost * 1000) break; // far over already: stop counting
          }
          return deepest;
        };
        const depth = walk(op.selectionSet, 0, 1, op.operation === 'query', new Set());
        if (depth > limits.maxDepth) {
          context.reportError(new GraphQLError(`Query depth ${depth} is over the limit of ${limits.maxDepth}`, { nodes: [op], extensions: { code: 'QUERY_TOO_DEEP', limit: 'QUERY_TOO_DEEP' } }));
        }
        if (cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(`Query cost ${cost} (estimated resources read) is over the limit of ${limits.maxCost}; lower _count or nest less`, {
              nodes: [op],
              extensions: { code: 'QUERY_TOO_COSTLY', limit: 'QUERY_TOO_COSTLY' },
            }),
          );
        }
      },
    }),
  ];
}
