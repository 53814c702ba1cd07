import type { AuditEvent } from '../../audit/audit-record.js';
import type { Principal } from './principal.js';
import type { AccessRestriction } from '../search/search-engine.js';

/** Every kind of request a door can hand to the core (FHIR R4 RESTful interactions plus operations). */
export type InteractionKind =
  | 'capabilities'
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'search-compartment'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'batch'
  | 'transaction'
  | 'operation';

/** Ordered list of [name, value] pairs as received (repeats kept: AND semantics in search). */
export type QueryParams = [string, string][];

export interface PreferHeader {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync?: boolean;
}

export interface Interaction {
  kind: InteractionKind;
  resourceType?: string;
  id?: string;
  versionId?: string;
  /** Operation name without '$', for kind 'operation'. */
  operation?: string;
  /** Compartment of a compartment search, e.g. { type: 'Patient', id: '123' }. */
  compartment?: { type: string; id: string };
  params: QueryParams;
  /** Parsed body (a resource, a JSON Patch array, a Bundle, Parameters). */
  body?: unknown;
  /** Media type of the body, for PATCH (JSON Patch vs FHIRPath Patch). */
  bodyType?: string;
  /** id of a create fixed in advance (a transaction Bundle assigns ids before rewriting references) */
  presetId?: string;
  ifMatch?: string;
  ifNoneExist?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  /** Accept header as received (bulk $export requires application/fhir+json) */
  accept?: string;
  prefer: PreferHeader;
  principal: Principal;
  /** What this interaction may see, set by the authorize/consent stages; the engine compiles it into its SQL. */
  restriction?: AccessRestriction;
  /** Which door the request came through: 'rest', 'bundle-entry', 'graphql', 'bulk', ... */
  door: string;
  requestId?: string;
  /**
   * Audit records a stage made about this interaction (a consent decision, an access during break-the-glass): the
   * audit stage appends them together with the interaction's own record, in the same commit, so a request waits
   * for one commit instead of one per record.
   */
  companionRecords?: AuditEvent[];
}

/** What the engine answers; the door renders it (HTTP status, headers, body). */
export interface InteractionResult {
  status: number;
  /** A resource object, or already-serialised JSON text of one (the fast path for reads). */
  resource?: unknown;
  resourceJson?: string;
  /** The patients (`Patient/id`) whose data the result holds, when the engine knows them (search Bundles as text). */
  patients?: string[];
  versionId?: string;
  lastUpdated?: string;
  /** Location of a created/updated resource, relative to the base: Type/id/_history/vid */
  location?: string;
  /** OperationOutcome to return under Prefer: return=OperationOutcome, or for informational results. */
  outcome?: unknown;
  headers?: Record<string, string>;
}

/** The result's resource as an object: the one given, or its JSON text parsed (undefined when it has neither). */
export function resultResource(res: InteractionResult): any {
  return res.resource ?? (res.resourceJson !== undefined ? JSON.parse(res.resourceJson) : undefined);
}
