import { R4Definitions } from '../definitions/r4-definitions.js';

/**
 * Shape of `Reference.reference` values (R4 references.html): a local reference to a contained resource (`#id`,
 * or `#` for the container), a relative `Type/id` or `Type/id/_history/vid`, a conditional `Type?criteria`
 * (resolved by the server in a transaction), or an absolute URI — where `urn:uuid:` and `urn:oid:` must be well
 * formed, and RESTful `.../Type/id` URLs give away the target type.
 */
export interface ParsedReference {
  kind: 'local' | 'relative' | 'conditional' | 'absolute' | 'invalid';
  /** target resource type, when the reference says it */
  type?: string;
  /** contained resource id (local references) */
  id?: string;
  error?: string;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const CONDITIONAL = /^([A-Za-z]+)\?(.*)$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OID = /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/;
const REST_URL = /\/([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

const cache = new Map<string, ParsedReference>();

/** parseReference, memoised: the same references come back again and again (Patient/123 in every resource). */
export function parseReferenceCached(ref: string): ParsedReference {
  let parsed = cache.get(ref);
  if (!parsed) {
    if (cache.size >= 10_000) cache.clear();
    parsed = parseReference(ref);
    cache.set(ref, parsed);
  }
  return parsed;
}

export function parseReference(ref: string): ParsedReference {
  const types = R4Definitions.get();
  if (ref.charCodeAt(0) === 35 /* # */) {
    const id = ref.slice(1);
    if (id.length && !ID.test(id)) return { kind: 'invalid', error: `Invalid local reference "${ref}": "${id}" is not a valid id` };
    return { kind: 'local', id };
  }
  let m = RELATIVE.exec(ref);
  if (m) {
    if (!types.isResourceType(m[1])) return { kind: 'invalid', error: `Invalid reference "${ref}": "${m[1]}" is not a resource type` };
    return { kind: 'relative', type: m[1] };
  }
  if (SCHEME.test(ref)) {
    if (ref.startsWith('urn:uuid:')) return UUID.test(ref) ? { kind: 'absolute' } : { kind: 'invalid', error: `Invalid urn:uuid reference "${ref}"` };
    if (ref.startsWith('urn:oid:')) return OID.test(ref) ? { kind: 'absolute' } : { kind: 'invalid', error: `Invalid urn:oid reference "${ref}"` };
    if (/\s/.test(ref)) return { kind: 'invalid', error: `Invalid reference "${ref}": URIs cannot contain whitespace` };
    m = REST_URL.exec(ref);
    return m && types.isResourceType(m[1]) ? { kind: 'absolute', type: m[1] } : { kind: 'absolute' };
  }
  m = CONDITIONAL.exec(ref);
  if (m && types.isResourceType(m[1])) return { kind: 'conditional', type: m[1] };
  return {
    kind: 'invalid',
    error: `Invalid reference "${ref}": expected Type/id, Type/id/_history/version, an absolute URL, #id or urn:uuid:/urn:oid:`,
  };
}
