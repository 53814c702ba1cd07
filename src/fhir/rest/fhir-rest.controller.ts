import { All, Controller, Inject, Optional, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HUB_CONFIG, type HubConfig } from '../../modules/config/hub-config.js';
import type { Interaction } from '../pipeline/interaction.js';
import { FhirPipeline } from '../pipeline/pipeline.js';
import { DEVELOPMENT_PRINCIPAL, REQUEST_AUTHENTICATOR, RefusedCaller, type Principal, type RequestAuthenticator } from '../pipeline/principal.js';
import { parseFhirRequest, parseQueryString } from '../pipeline/request-parser.js';
import { authenticationRequest } from './authentication-request.js';
import { parseBody, responseMediaType } from './content-negotiation.js';
import { toFhirError } from './errors.js';
import { renderError, renderResult } from './fhir-response.js';
import type { RawBody } from './http-body.js';

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The REST door: parse the HTTP request into an Interaction, hand it to the pipeline, render the result.
 * It never touches the database and never skips a stage.
 */
@Controller('fhir')
export class FhirRestController {
  constructor(
    private readonly pipeline: FhirPipeline,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Optional() @Inject(REQUEST_AUTHENTICATOR) private readonly authenticator?: RequestAuthenticator,
  ) {}

  @All()
  root(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.handle(req, reply);
  }

  @All('*')
  any(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.handle(req, reply);
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = req.url;
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).replace(/^\/fhir\/?/, '');
    let query: [string, string][] = [];
    let mediaType = 'application/fhir+json';
    let pretty = false;
    let ix: Interaction | undefined;
    // who asked, as far as known when a request is refused before it becomes an interaction (for the audit record)
    let principal: Principal = this.authenticator ? { kind: 'anonymous', scopes: [], address: req.ip } : { ...DEVELOPMENT_PRINCIPAL, address: req.ip };
    try {
      query = parseQueryString(q < 0 ? '' : url.slice(q + 1));
      const format = query.find(([k]) => k === '_format')?.[1];
      pretty = query.some(([k, v]) => k === '_pretty' && v === 'true');
      mediaType = responseMediaType(format, header(req, 'accept'));
      // authentication (bearer token → Principal; 401 with a WWW-Authenticate challenge; the declared purpose of
      // use, 400/403 when malformed or not allowed) before anything is parsed
      principal = this.authenticator ? await this.authenticator.authenticate(authenticationRequest(req, path)) : { ...DEVELOPMENT_PRINCIPAL, address: req.ip };
      const isSearchPost = req.method === 'POST' && /(^|\/)_search$/.test(path);
      const { body, form, mediaType: bodyType } = parseBody(req.body as RawBody | undefined, isSearchPost);
      if (form) query = [...query, ...form];
      ix = parseFhirRequest({
        method: req.method,
        path,
        query: query.filter(([k]) => k !== '_format' && k !== '_pretty'),
        body,
        bodyType,
        headers: {
          ifMatch: header(req, 'if-match'),
          ifNoneExist: header(req, 'if-none-exist'),
          ifNoneMatch: header(req, 'if-none-match'),
          ifModifiedSince: header(req, 'if-modified-since'),
          prefer: header(req, 'prefer'),
          accept: header(req, 'accept'),
        },
        principal,
        door: 'rest',
        requestId: String(req.id),
      });
      const result = await this.pipeline.execute(ix, { baseUrl: this.config.fhirBaseUrl });
      renderResult(reply, ix, result, { baseUrl: this.config.fhirBaseUrl, mediaType, pretty });
    } catch (err) {
      let fhirError = toFhirError(err);
      if (err instanceof RefusedCaller) principal = err.principal; // a known caller, refused (e.g. its purpose of use)
      if (!ix) {
        // refused before it became an interaction: still on record (audit) before the answer leaves
        try {
          await this.pipeline.rejected({ door: 'rest', method: req.method, path: url.replace(/^\/fhir\/?/, ''), principal, requestId: String(req.id), error: fhirError, baseUrl: this.config.fhirBaseUrl });
        } catch (auditErr) {
          req.log.error({ err: auditErr }, 'recording a refused request failed');
          fhirError = toFhirError(auditErr);
        }
      }
      if (fhirError.status >= 500) req.log.error({ err }, 'request failed');
      renderError(reply, fhirError, { mediaType, pretty });
    }
  }
}
