import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError } from '../operation-outcome.js';

/** The request body as received: its media type and text; the REST door parses it (so bad JSON is a FHIR 400). */
export interface RawBody {
  mediaType: string;
  text: string;
}

/** Bundles (batch/transaction posted to the base, and Bundle resources) may be larger than other resources. */
function isBundleEndpoint(url: string): boolean {
  const path = url.split('?')[0];
  return /^\/fhir\/?$/.test(path) || /^\/fhir\/Bundle(\/|$)/.test(path);
}

/**
 * A client still sending when the 413 goes out (and the connection closes) gets a broken pipe instead of the answer
 * (fetch/undici do not read early responses), so an oversized body is read and discarded before the 413, up to this
 * much beyond the limit; past that the connection is cut.
 */
const DRAIN_ALLOWANCE = 64 * 1024 * 1024;

/**
 * One parser for every content type: it reads the body as text up to the size limit (413 beyond it), and leaves
 * the decision about the media type (415) and the parsing (400) to the door.
 */
export function registerBodyReader(fastify: FastifyInstance, limits: { bodyLimit: number; bundleBodyLimit: number }): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { bodyLimit: Math.max(limits.bodyLimit, limits.bundleBodyLimit) }, (req: FastifyRequest, payload, done) => {
    const limit = isBundleEndpoint(req.url) ? limits.bundleBodyLimit : limits.bodyLimit;
    const declared = Number(req.headers['content-length']);
    const tooLarge = (size?: number) =>
      new FhirError(413, size ? `Request body of ${size} bytes is over the limit of ${limit} bytes` : `Request body is over the limit of ${limit} bytes`, 'too-costly');
    if (declared > limit + DRAIN_ALLOWANCE) {
      payload.resume();
      return done(tooLarge(declared), undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (err: Error | null, body?: RawBody) => {
      if (finished) return;
      finished = true;
      done(err, body);
    };
    payload.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > limit + DRAIN_ALLOWANCE) return finish(tooLarge(), undefined);
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0; // over the limit: keep reading, keep nothing
    });
    payload.on('end', () => {
      if (size > limit) return finish(tooLarge(size), undefined);
      const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      finish(null, { mediaType, text: Buffer.concat(chunks, size).toString('utf8') } satisfies RawBody);
    });
    payload.on('error', (e) => finish(e, undefined));
  });
}
