import { R4Definitions } from '../definitions/r4-definitions.js';
import { FhirError } from '../operation-outcome.js';
import type { Interaction, InteractionKind, PreferHeader, QueryParams } from './interaction.js';
import type { Principal } from './principal.js';

/** Splits `a=1&b=2&a=3` into ordered pairs (repeats kept, values decoded). */
export function parseQueryString(qs: string): QueryParams {
  const out: QueryParams = [];
  if (!qs) return out;
  for (const part of qs.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    try {
      out.push([decodeURIComponent(rawName.replace(/\+/g, ' ')), decodeURIComponent(rawValue.replace(/\+/g, ' '))]);
    } catch {
      throw FhirError.badRequest(`Malformed percent-encoding in query parameter "${rawName}"`);
    }
  }
  return out;
}

export function parsePrefer(header: string | undefined): PreferHeader {
  const prefer: PreferHeader = {};
  if (!header) return prefer;
  for (const token of header.split(/[,;]/)) {
    const [k, v] = token.trim().split('=').map((s) => s?.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) prefer.return = v;
    else if (k === 'handling' && (v === 'strict' || v === 'lenient')) prefer.handling = v;
    else if (k === 'respond-async') prefer.respondAsync = true;
  }
  return prefer;
}

export interface RawRequest {
  method: string;
  /** path relative to the FHIR base, without leading slash: `Patient/1/_history/2` (may be empty) */
  path: string;
  query: QueryParams;
  body?: unknown;
  bodyType?: string;
  headers: { ifMatch?: string; ifNoneExist?: string; ifNoneMatch?: string; ifModifiedSince?: string; prefer?: string; accept?: string };
  principal: Principal;
  door: string;
  requestId?: string;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function checkType(type: string): string {
  if (!R4Definitions.get().isResourceType(type)) throw FhirError.notFound(`Unknown resource type "${type}"`);
  return type;
}

function checkId(id: string): string {
  if (!ID.test(id)) throw FhirError.badRequest(`Invalid resource id "${id}"`);
  return id;
}

/**
 * Turns a FHIR RESTful request (method + path relative to the base) into one typed Interaction. The REST door and
 * batch/transaction entries both use it, so an entry means exactly what the same HTTP request would.
 */
export function parseFhirRequest(req: RawRequest): Interaction {
  const method = req.method.toUpperCase();
  const segs = req.path.split('/').filter((s) => s.length > 0).map(decodeSegment);
  const ix: Interaction = {
    kind: 'read',
    params: req.query,
    body: req.body,
    bodyType: req.bodyType,
    ifMatch: req.headers.ifMatch,
    ifNoneExist: req.headers.ifNoneExist,
    ifNoneMatch: req.headers.ifNoneMatch,
    ifModifiedSince: req.headers.ifModifiedSince,
    accept: req.headers.accept,
    prefer: parsePrefer(req.headers.prefer),
    principal: req.principal,
    door: req.door,
    requestId: req.requestId,
  };
  const set = (kind: InteractionKind, extra: Partial<Interaction> = {}) => Object.assign(ix, { kind }, extra);
  const unsupported = () => FhirError.methodNotAllowed(`${method} is not supported on /${segs.join('/')}`);
  const [a, b, c, d] = segs;

  if (segs.length === 0) {
    if (method === 'GET') return set('search-system');
    if (method === 'POST') {
      const type = (req.body as any)?.type;
      if ((req.body as any)?.resourceType !== 'Bundle') throw FhirError.badRequest('POST to the base expects a Bundle');
      if (type === 'batch') return set('batch');
      if (type === 'transaction') return set('transaction');
      throw FhirError.badRequest(`Bundle.type must be batch or transaction, got "${String(type)}"`);
    }
    throw unsupported();
  }
  if (a === 'metadata' && segs.length === 1) {
    if (method !== 'GET') throw unsupported();
    return set('capabilities');
  }
  if (a === '_history' && segs.length === 1) {
    if (method !== 'GET') throw unsupported();
    return set('history-system');
  }
  if (a.startsWith('$')) {
    if (segs.length !== 1) throw FhirError.notFound(`Unknown path /${segs.join('/')}`);
    return set('operation', { operation: a.slice(1) });
  }
  if (a === '_search' && segs.length === 1 && method === 'POST') return set('search-system');
  const resourceType = checkType(a);
  ix.resourceType = resourceType;
  if (segs.length === 1) {
    switch (method) {
      case 'GET':
        return set('search-type');
      case 'POST':
        return set('create');
      case 'PUT':
        return set('update'); // conditional update (criteria in the query)
      case 'PATCH':
        return set('patch'); // conditional patch
      case 'DELETE':
        return set('delete'); // conditional delete
      default:
        throw unsupported();
    }
  }
  if (b === '_search' && segs.length === 2) {
    if (method !== 'POST') throw unsupported();
    return set('search-type');
  }
  if (b === '_history' && segs.length === 2) {
    if (method !== 'GET') throw unsupported();
    return set('history-type');
  }
  if (b.startsWith('$')) {
    if (segs.length !== 2) throw FhirError.notFound(`Unknown path /${segs.join('/')}`);
    return set('operation', { operation: b.slice(1) });
  }
  const id = checkId(b);
  ix.id = id;
  if (segs.length === 2) {
    switch (method) {
      case 'GET':
        return set('read');
      case 'PUT':
        return set('update');
      case 'PATCH':
        return set('patch');
      case 'DELETE':
        return set('delete');
      default:
        throw unsupported();
    }
  }
  if (c === '_history') {
    if (method !== 'GET') throw unsupported();
    if (segs.length === 3) return set('history-instance');
    if (segs.length === 4) return set('vread', { versionId: d });
  }
  if (c.startsWith('$') && segs.length === 3) return set('operation', { operation: c.slice(1) });
  if (segs.length === 3 || (segs.length === 4 && d === '_search')) {
    if (method !== 'GET' && !(method === 'POST' && d === '_search')) throw unsupported();
    // compartment search: Patient/123/Observation (or Patient/123/* for every type in the compartment)
    if (c !== '*') checkType(c);
    return set('search-compartment', { compartment: { type: resourceType, id }, resourceType: c === '*' ? undefined : c, id: undefined });
  }
  throw FhirError.notFound(`Unknown path /${segs.join('/')}`);
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw FhirError.badRequest(`Malformed percent-encoding in path segment "${s}"`);
  }
}
