import { GraphQLError, type GraphQLFieldResolver, type GraphQLResolveInfo } from 'graphql';
import { FhirError } from '../../../fhir/operation-outcome.js';
import { resultResource, type QueryParams } from '../../../fhir/pipeline/interaction.js';
import { parseQueryString } from '../../../fhir/pipeline/request-parser.js';
import type { SearchArguments } from '../schema/search-arguments.js';
import type { GraphqlContext } from './element-resolvers.js';
import { tag } from './fhir-data-access.js';

/**
 * Resolvers of the query roots (`Patient`, `PatientList`, `PatientConnection`), of reverse references
 * (`ObservationList(_reference: patient)` on a resource) and of the mutations. Each one becomes pipeline
 * interactions through FhirDataAccess.
 */
export class RootResolvers {
  constructor(private readonly args: SearchArguments) {}

  /** GraphQL arguments → FHIR search parameters (a list argument repeats the parameter). */
  searchParams(type: string, args: Record<string, unknown>): QueryParams {
    const out: QueryParams = [];
    for (const [name, value] of Object.entries(args)) {
      if (value === undefined || value === null || name === '_count' || name === '_offset' || name === '_cursor' || name === '_reference') continue;
      const code = name === '_sort' || name === '_total' ? name : this.args.code(type, name);
      if (!code) throw new GraphQLError(`Unknown search argument ${name} on ${type}`);
      for (const v of Array.isArray(value) ? value : [value]) out.push([code, String(v)]);
    }
    return out;
  }

  read(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return (_src, args, ctx) => {
      const id = args.id ?? args._id;
      if (!id) throw new GraphQLError(`${type} needs an id`);
      return ctx.data.read(type, String(id));
    };
  }

  list(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return async (_src, args, ctx) => {
      const { count, offset } = paging(args, ctx);
      const bundle = await ctx.data.search(type, [...this.searchParams(type, args), ['_count', String(Math.min(offset + count, ctx.data.limits.maxPageSize))]]);
      return matches(bundle).slice(offset, offset + count);
    };
  }

  connection(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return async (_src, args, ctx, info) => {
      const { count, offset } = paging(args, ctx);
      let params: QueryParams;
      if (args._cursor) {
        params = decodeCursor(String(args._cursor));
      } else {
        params = [...this.searchParams(type, args), ['_count', String(Math.min(offset + count, ctx.data.limits.maxPageSize))]];
        if (selects(info, 'count') && !args._total) params.push(['_total', 'accurate']);
      }
      const bundle = await ctx.data.search(type, params);
      const edges = (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'match').slice(args._cursor ? 0 : offset);
      const link = (rel: string) => {
        const url = bundle.link?.find((l: any) => l.relation === rel)?.url as string | undefined;
        return url ? encodeCursor(url) : null;
      };
      return {
        count: bundle.total ?? null,
        offset: args._cursor ? null : offset,
        pagesize: count,
        first: link('first'),
        previous: link('previous'),
        next: link('next'),
        last: link('last'),
        edges: edges.map((e: any) => ({ mode: e.search?.mode, score: e.search?.score ?? null, resource: e.resource })),
      };
    };
  }

  /** `XList(_reference: param, ...)` on a resource: the X resources whose `param` points to it (batched per request). */
  reverse(type: string): GraphQLFieldResolver<any, GraphqlContext> {
    return (parent, args, ctx) => {
      const param = this.args.code(type, String(args._reference)) ?? String(args._reference);
      if (!parent?.id || !parent.resourceType) throw new GraphQLError(`${type}List needs a resource with an id`);
      const { count, offset } = paging(args, ctx);
      return ctx.data.reverse.load({ type, param, parent: `${parent.resourceType}/${parent.id}`, params: this.searchParams(type, args), count, offset });
    };
  }

  create(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return async (_src, args, ctx) => {
      const body = { ...clean(args.res), resourceType: type };
      const result = await ctx.data.execute(ctx.data.interaction('create', { resourceType: type, body, prefer: { return: 'representation' } }));
      return tag(resultResource(result));
    };
  }

  update(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return async (_src, args, ctx) => {
      const id = String(args.id);
      const body = { ...clean(args.res), resourceType: type, id };
      const result = await ctx.data.execute(ctx.data.interaction('update', { resourceType: type, id, body, prefer: { return: 'representation' } }));
      return tag(resultResource(result));
    };
  }

  delete(type: string): GraphQLFieldResolver<unknown, GraphqlContext> {
    return async (_src, args, ctx) => {
      const id = String(args.id);
      const result = await ctx.data.execute(ctx.data.interaction('delete', { resourceType: type, id }));
      return (
        (result.outcome as any) ?? {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'information', code: 'informational', diagnostics: `${type}/${id} deleted` }],
        }
      );
    };
  }
}

function paging(args: Record<string, unknown>, ctx: GraphqlContext): { count: number; offset: number } {
  const count = args._count === undefined || args._count === null ? ctx.data.limits.defaultPageSize : Number(args._count);
  const offset = args._offset === undefined || args._offset === null ? 0 : Number(args._offset);
  if (!Number.isInteger(count) || count < 0) throw FhirError.badRequest('_count must be a non-negative integer');
  if (!Number.isInteger(offset) || offset < 0) throw FhirError.badRequest('_offset must be a non-negative integer');
  if (offset + Math.min(count, ctx.data.limits.maxPageSize) > ctx.data.limits.maxPageSize) {
    throw FhirError.badRequest(`_offset + _count may not exceed ${ctx.data.limits.maxPageSize}; page on with _cursor`);
  }
  return { count: Math.min(count, ctx.data.limits.maxPageSize), offset };
}

function matches(bundle: any): any[] {
  return (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource);
}

/** Whether the field's own selection set names `field` (directly or in an inline fragment). */
function selects(info: GraphQLResolveInfo, field: string): boolean {
  const walk = (sel: readonly any[] | undefined): boolean =>
    (sel ?? []).some((s) => (s.kind === 'Field' && s.name.value === field) || (s.kind === 'InlineFragment' && walk(s.selectionSet.selections)) || s.kind === 'FragmentSpread');
  return info.fieldNodes.some((n) => walk(n.selectionSet?.selections));
}

/** A paging link of the search as an opaque cursor: its query string, base64url-encoded. */
function encodeCursor(url: string): string {
  return Buffer.from(url.slice(url.indexOf('?') + 1)).toString('base64url');
}

function decodeCursor(cursor: string): QueryParams {
  return parseQueryString(Buffer.from(cursor, 'base64url').toString('utf8'));
}

/** Mutation input without the nulls GraphQL lets a client write (a FHIR resource has no nulls). */
function clean(value: any): any {
  if (Array.isArray(value)) return value.map(clean);
  if (value && typeof value === 'object') {
    const out: any = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = clean(v);
    return out;
  }
  return value;
}
