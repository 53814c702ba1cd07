import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { GraphQLError, responsePathAsArray, type GraphQLFieldResolver, type GraphQLResolveInfo } from 'graphql';
import { R4Definitions } from '../../../fhir/definitions/r4-definitions.js';
import { FhirError } from '../../../fhir/operation-outcome.js';
import { resultResource } from '../../../fhir/pipeline/interaction.js';
import { CONTAINER, type FhirDataAccess } from './fhir-data-access.js';

export interface GraphqlContext {
  data: FhirDataAccess;
}

/** Arguments every list of complex elements takes besides its children's values. */
export const LIST_CONTROL = new Set(['fhirpath', '_count', '_offset']);

const compiled = new Map<string, (item: any) => any[]>();
function fhirpathFilter(expression: string): (item: any) => any[] {
  let fn = compiled.get(expression);
  if (!fn) {
    try {
      const f = fhirpath.compile(expression, r4Model);
      fn = (item: any) => f(item) as any[];
    } catch (e) {
      throw new GraphQLError(`Invalid fhirpath filter "${expression}": ${(e as Error).message}`);
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(expression, fn);
  }
  return fn;
}

function truthy(result: any[]): boolean {
  return result.length === 1 && typeof result[0] === 'boolean' ? result[0] : result.length > 0;
}

function matches(item: any, name: string, wanted: string | string[]): boolean {
  const want = Array.isArray(wanted) ? wanted : [wanted];
  const v = item?.[name];
  const have = Array.isArray(v) ? v : [v];
  return want.every((w) => have.some((h) => h !== undefined && h !== null && String(h) === w));
}

/**
 * A complex element (datatype, backbone element, contained resource): hands the value on with its container
 * (for `#id` references) and applies the list filters of FHIR GraphQL: a child's value (`name(use: official)`),
 * `fhirpath: "..."`, `_offset` and `_count`. A list field under `@slice(path:)` records each item's slice key.
 */
export function complexElement(name: string, array: boolean): GraphQLFieldResolver<any, GraphqlContext> {
  return (source, args, ctx, info) => {
    const value = source?.[name];
    if (value === undefined || value === null) return null;
    const container = source[CONTAINER] ?? source;
    if (!array) {
      if (typeof value === 'object') value[CONTAINER] ??= container;
      return value;
    }
    let items: any[] = Array.isArray(value) ? value : [value];
    for (const [k, v] of Object.entries(args)) {
      if (v === undefined || v === null || LIST_CONTROL.has(k)) continue;
      items = items.filter((item) => matches(item, k, v as string | string[]));
    }
    if (args.fhirpath) {
      const f = fhirpathFilter(String(args.fhirpath));
      items = items.filter((item) => truthy(f(item)));
    }
    const offset = Number(args._offset ?? 0);
    items = items.slice(offset, args._count === undefined || args._count === null ? undefined : offset + Number(args._count));
    for (const item of items) if (item && typeof item === 'object') item[CONTAINER] ??= container;
    recordSlices(items, info, ctx);
    return items;
  };
}

/** Keys of `@slice(path: "use")` (a child's value) or `@slice(path: "$index")` for the directive post-processing. */
function recordSlices(items: any[], info: GraphQLResolveInfo, ctx: GraphqlContext): void {
  const slice = info.fieldNodes[0]?.directives?.find((d) => d.name.value === 'slice');
  if (!slice) return;
  const arg = slice.arguments?.find((a) => a.name.value === 'path');
  let path: string | undefined;
  if (arg?.value.kind === 'StringValue') path = arg.value.value;
  else if (arg?.value.kind === 'Variable') path = String(info.variableValues[arg.value.name.value] ?? '');
  if (!path) throw new GraphQLError('@slice needs a path');
  const keys = items.map((item, i) => {
    if (path === '$index') return String(i);
    let v: any = item;
    for (const seg of path!.split('.')) v = Array.isArray(v) ? v[0]?.[seg] : v?.[seg];
    return v === undefined || v === null ? '' : String(Array.isArray(v) ? v[0] : v);
  });
  ctx.data.slices.set(responsePathAsArray(info.path).join('.'), keys);
}

const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

/**
 * `Reference.resource(optional:, type:)`: a contained resource (`#id`), or a resource of this hub read through the
 * pipeline (batched per request). A reference that cannot be resolved is an error unless `optional: true`;
 * `type:` keeps only references to that resource type (others give null without a read).
 */
export const referencedResource: GraphQLFieldResolver<any, GraphqlContext> = async (ref, args, ctx) => {
  const optional = args.optional === true;
  const unresolvable = (why: string) => {
    if (optional) return null;
    throw new GraphQLError(`Reference ${ref?.reference ?? '(no reference)'} cannot be resolved: ${why}`, { extensions: { code: 'REFERENCE_NOT_RESOLVED' } });
  };
  const reference: unknown = ref?.reference;
  if (typeof reference !== 'string' || !reference) return unresolvable('it has no literal reference');
  const container = ref[CONTAINER];
  let found: any;
  if (reference.startsWith('#')) {
    const id = reference.slice(1);
    found = id ? container?.contained?.find((c: any) => c?.id === id) : container;
    if (found) found[CONTAINER] ??= container;
    if (found && args.type && found.resourceType !== args.type) return null;
    return found ?? unresolvable('no such contained resource');
  }
  const base = ctx.data.baseUrl + '/';
  const local = reference.startsWith(base) ? reference.slice(base.length) : reference;
  const m = LOCAL_REFERENCE.exec(local);
  if (!m || !R4Definitions.get().isResourceType(m[1])) return unresolvable('it is not a reference to a resource on this server');
  if (args.type && m[1] !== args.type) return null;
  try {
    found = m[3]
      ? await ctx.data.execute(ctx.data.interaction('vread', { resourceType: m[1], id: m[2], versionId: m[3] })).then(resultResource)
      : await ctx.data.references.load(`${m[1]}/${m[2]}`);
  } catch (e) {
    // refused (403) or unknown: unresolvable for this caller; optional turns that into null, as for a missing target
    if (e instanceof FhirError && e.status < 500) return unresolvable(e.message);
    throw e;
  }
  if (found) found[CONTAINER] ??= found;
  return found ?? unresolvable('no such resource');
};
