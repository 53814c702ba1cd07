import { All, Controller, Inject, Optional, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { R4Definitions } from '../../fhir/definitions/r4-definitions.js';
import { FhirError } from '../../fhir/operation-outcome.js';
import { FhirPipeline } from '../../fhir/pipeline/pipeline.js';
import { REQUEST_AUTHENTICATOR, RefusedCaller, type Principal, type RequestAuthenticator } from '../../fhir/pipeline/principal.js';
import type { RawBody } from '../../fhir/rest/http-body.js';
import { toFhirError } from '../../fhir/rest/errors.js';
import { renderError } from '../../fhir/rest/fhir-response.js';
import { countStatements } from '../database/statement-counter.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { FhirGraphqlService, HeaderMap } from './fhir-graphql.service.js';
import { graphqlPrincipal } from './request-principal.js';
import { INSTANCE_ROOT } from './schema/query-rewriter.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * The GraphQL door: `[base]/$graphql` (system level), `[base]/[type]/[id]/$graphql` (the resource is the query
 * root) and `/graphql` (the same as the system level, for GraphQL tooling). GET (`?query=`) and POST
 * (`application/json` or `application/graphql`). Like the REST door it only authenticates and hands over: every
 * data access is a pipeline interaction (FhirDataAccess).
 */
@Controller()
export class GraphqlController {
  constructor(
    private readonly graphql: FhirGraphqlService,
    private readonly pipeline: FhirPipeline,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Optional() @Inject(REQUEST_AUTHENTICATOR) private readonly authenticator?: RequestAuthenticator,
  ) {}

  @All(['fhir/$graphql', 'graphql'])
  system(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.handle(req, reply);
  }

  @All('fhir/:type/:id/$graphql')
  instance(@Req() req: FastifyRequest<{ Params: { type: string; id: string } }>, @Res() reply: FastifyReply) {
    const { type, id } = req.params;
    if (!R4Definitions.get().isResourceType(type)) return renderError(reply, FhirError.notFound(`Unknown resource type "${type}"`), JSON_ERROR);
    if (!ID.test(id)) return renderError(reply, FhirError.badRequest(`Invalid resource id "${id}"`), JSON_ERROR);
    return this.handle(req, reply, { type, id });
  }

  private async handle(req: FastifyRequest, reply: FastifyReply, instance?: { type: string; id: string }): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'POST') throw FhirError.methodNotAllowed(`${req.method} is not supported on $graphql (GET or POST)`);
      const headers = new HeaderMap();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
      const q = req.url.indexOf('?');
      // the landing page (a browser's GET without a query, development only) reads nothing: no token needed for it
      const landingPage = req.method === 'GET' && !new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)).has('query') && /text\/html/.test(String(req.headers.accept));
      const principal: Principal = landingPage
        ? { kind: 'anonymous', scopes: [], address: req.ip }
        : await this.principalOf(req, instance ? `${instance.type}/${instance.id}/$graphql` : '$graphql');
      const run = () =>
        this.graphql.execute(
          { method: req.method, headers, search: q < 0 ? '' : req.url.slice(q + 1), body: requestBody(req, headers) },
          { principal, requestId: String(req.id), baseUrl: this.config.fhirBaseUrl },
          instance,
        );
      // outside production a request may ask how many SQL statements it cost (tests, bench/graphql.js)
      const counted = process.env.NODE_ENV !== 'production' && req.headers['x-hub-count-sql'] === '1';
      const { result: response, statements } = counted ? await countStatements(run) : { result: await run(), statements: undefined };
      reply.status(response.status ?? 200);
      for (const [k, v] of response.headers) reply.header(k, v);
      if (response.body.kind === 'chunked') {
        let text = '';
        for await (const chunk of response.body.asyncIterator) text += chunk;
        return void reply.send(text);
      }
      let text = response.body.string;
      if (response.headers.get('content-type')?.includes('json') && (instance || statements !== undefined)) {
        text = JSON.stringify(reshape(JSON.parse(text), instance ? INSTANCE_ROOT : undefined, statements));
      }
      reply.send(text);
    } catch (err) {
      const e = toFhirError(err);
      if (e.status >= 500) req.log.error({ err }, 'GraphQL request failed');
      renderError(reply, e, JSON_ERROR);
    }
  }

  /** The caller; a refused one (no or a bad token, a purpose of use it may not declare) is on record before the answer leaves. */
  private async principalOf(req: FastifyRequest, path: string): Promise<Principal> {
    try {
      return await graphqlPrincipal(req, path, this.authenticator);
    } catch (err) {
      const principal: Principal = err instanceof RefusedCaller ? err.principal : { kind: 'anonymous', scopes: [], address: req.ip };
      await this.pipeline.rejected({ door: 'graphql', method: req.method, path, principal, requestId: String(req.id), error: toFhirError(err), baseUrl: this.config.fhirBaseUrl });
      throw err;
    }
  }
}

const JSON_ERROR = { mediaType: 'application/fhir+json', pretty: false };

/** The body as Apollo expects it: parsed JSON, or `{ query }` for `application/graphql`. */
function requestBody(req: FastifyRequest, headers: HeaderMap): unknown {
  const raw = req.body as RawBody | undefined;
  if (!raw || req.method === 'GET') return undefined;
  if (raw.mediaType === 'application/graphql') {
    headers.set('content-type', 'application/json');
    return { query: raw.text };
  }
  if (raw.mediaType !== 'application/json' && raw.mediaType !== 'application/fhir+json') {
    throw new FhirError(415, `GraphQL requests are application/json or application/graphql, not "${raw.mediaType}"`, 'not-supported');
  }
  headers.set('content-type', 'application/json');
  try {
    return JSON.parse(raw.text);
  } catch {
    throw FhirError.badRequest('The request body is not valid JSON');
  }
}

/**
 * Takes the instance-level root out again (`data.__instance` → `data`, error paths without it) and reports the SQL
 * statements the query sent (`extensions.sqlStatements`) when they were counted.
 */
function reshape(body: any, root: string | undefined, statements: number | undefined): any {
  if (root && body && typeof body === 'object') {
    if (body.data && typeof body.data === 'object') body.data = body.data[root] ?? null;
    for (const e of body.errors ?? []) if (Array.isArray(e.path) && e.path[0] === root) e.path = e.path.slice(1);
  }
  if (statements !== undefined && body && typeof body === 'object' && !Array.isArray(body)) {
    body.extensions = { ...(body.extensions ?? {}), sqlStatements: statements };
  }
  return body;
}
