import { FhirError } from '../operation-outcome.js';
import type { RawBody } from './http-body.js';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'text/json']);
const FORMAT_ALIASES: Record<string, string> = {
  json: 'application/fhir+json',
  'application/fhir+json': 'application/fhir+json',
  'application/json': 'application/json',
  'application/json+fhir': 'application/fhir+json',
  'text/json': 'application/json',
};

/**
 * The media type of the response from `_format` (wins) or Accept. JSON only for now: XML is refused with 406.
 */
export function responseMediaType(format: string | undefined, accept: string | undefined): string {
  if (format) {
    const t = FORMAT_ALIASES[format.trim().toLowerCase()];
    if (!t) throw new FhirError(406, `_format "${format}" is not supported (this server speaks JSON)`, 'not-supported');
    return t;
  }
  if (!accept) return 'application/fhir+json';
  const wanted = accept
    .split(',')
    .map((p) => {
      const [type, ...params] = p.trim().split(';');
      const q = params.map((x) => x.trim()).find((x) => x.startsWith('q='));
      return { type: type.trim().toLowerCase(), q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((w) => w.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const w of wanted) {
    if (w.type === 'application/json' || w.type === 'text/json') return 'application/json';
    if (JSON_TYPES.has(w.type) || w.type === '*/*' || w.type === 'application/*') return 'application/fhir+json';
  }
  throw new FhirError(406, `None of the accepted media types (${accept}) is supported (this server speaks JSON)`, 'not-supported');
}

/** Parses a request body by its media type; form bodies (POST _search) come back as query pairs. */
export function parseBody(raw: RawBody | undefined, allowForm: boolean): { body?: unknown; form?: [string, string][]; mediaType?: string } {
  if (!raw || (raw.text.length === 0 && !raw.mediaType)) return {};
  const t = raw.mediaType;
  if (allowForm && t === 'application/x-www-form-urlencoded') {
    return { form: [...new URLSearchParams(raw.text)] as [string, string][], mediaType: t };
  }
  if (raw.text.trim().length === 0) return { mediaType: t };
  if (JSON_TYPES.has(t) || t === 'application/json-patch+json') {
    try {
      return { body: JSON.parse(raw.text), mediaType: t };
    } catch (e) {
      throw new FhirError(400, `The body is not valid JSON: ${(e as Error).message}`, 'structure');
    }
  }
  if (!t) throw new FhirError(415, 'A request with a body needs a Content-Type (application/fhir+json)', 'not-supported');
  throw new FhirError(415, `Content-Type ${t} is not supported; use application/fhir+json`, 'not-supported');
}
