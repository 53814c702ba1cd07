import { All, Controller, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HUB_CONFIG, type HubConfig } from '../../modules/config/hub-config.js';
import type { Interaction } from '../pipeline/interaction.js';
import { FhirPipeline } from '../pipeline/pipeline.js';
import { DEVELOPMENT_PRINCIPAL } from '../pipeline/principal.js';
import { parseFhirRequest, parseQueryString } from '../pipeline/request-parser.js';
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
    try {
      query = parseQueryString(q < 0 ? '' : url.slice(q + 1));
      const format = query.find(([k]) => k === '_format')?.[1];
      pretty = query.some(([k, v]) => k === '_pretty' && v === 'true');
      mediaType = responseMediaType(format, header(req, 'accept'));
      const isSearchPost = req.method === 'POST' && /(^|\/)_search$/.test(path);
      const { body, form, mediaType: bodyType } = parseBody(req.body as RawBody | undefined, isSearchPost);
      if (form) query = [...query, ...form];
      const ix: Interaction = parseFhirRequest({
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
        },
        principal: { ...DEVELOPMENT_PRINCIPAL, address: req.ip },
        door: 'rest',
        requestId: String(req.id),
      });
      const result = await this.pipeline.execute(ix, { baseUrl: this.config.fhirBaseUrl });
      renderResult(reply, ix, result, { baseUrl: this.config.fhirBaseUrl, mediaType, pretty });
    } catch (err) {
      const fhirError = toFhirError(err);
      if (fhirError.status >= 500) req.log.error({ err }, 'request failed');
      renderError(reply, fhirError, { mediaType, pretty });
    }
  }
}
