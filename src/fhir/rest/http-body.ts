import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError } from '../operation-outcome.js';

/** The request body as received: its media type and text; the REST door parses it (so bad JSON is a FHIR 400). */
export interface RawBody {
  mediaType: string;
  text: string;
}

/** Bundles posted to the base may be larger than ordinary resources. */
function isBundleEndpoint(url: string): boolean {
  const path = url.split('?')[0];
  return /^\/fhir\/?$/.test(path);
}

/**
 * One parser for every content type: it reads the body as text up to the size limit (413 beyond it), and leaves
 * the decision about the media type (415) and the parsing (400) to the door.
 */
export function registerBodyReader(fastify: FastifyInstance, limits: { bodyLimit: number; bundleBodyLimit: number }): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { bodyLimit: Math.max(limits.bodyLimit, limits.bundleBodyLimit) }, (req: FastifyRequest, payload, done) => {
    const limit = isBundleEndpoint(req.url) ? limits.bundleBodyLimit : limits.bodyLimit;
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      payload.resume();
      return done(new FhirError(413, `Request body of ${declared} bytes is over the limit of ${limit} bytes`, 'too-costly'), undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        done(new FhirError(413, `Request body is over the limit of ${limit} bytes`, 'too-costly'), undefined);
        return;
      }
      chunks.push(chunk);
    });
    payload.on('end', () => {
      if (failed) return;
      const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      done(null, { mediaType, text: Buffer.concat(chunks, size).toString('utf8') } satisfies RawBody);
    });
    payload.on('error', (e) => {
      if (!failed) done(e, undefined);
      failed = true;
    });
  });
}
