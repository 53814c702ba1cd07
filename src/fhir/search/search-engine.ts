import type { Queryable } from '../../modules/database/db.js';
import type { QueryParams } from '../pipeline/interaction.js';
import type { Principal } from '../pipeline/principal.js';
import type { ConsentFacts } from './query/consent-condition.js';

/** A search as the engine receives it from any door. */
export interface SearchRequest {
  /** undefined for system-level search (`GET /fhir?_type=...`) */
  resourceType?: string;
  /** compartment search: `Patient/123/Observation` */
  compartment?: { type: string; id: string };
  params: QueryParams;
  /** Prefer: handling=strict → unknown/malformed parameters are a 400 */
  strict: boolean;
  principal: Principal;
  /** absolute FHIR base URL, for fullUrl and paging links */
  baseUrl: string;
  /** what the caller may see at all (scopes, consent); compiled into every statement of the search */
  restriction?: AccessRestriction;
}

/**
 * Limits on what an interaction may see, decided by the pipeline's authorize and consent stages and compiled into
 * the search SQL (page, total, `_include`/`_revinclude`, conditional matches), never applied to a fetched page.
 */
export interface AccessRestriction {
  /**
   * Only resources in the Patient compartment of one of these patient ids — plus resources of types that are not in
   * the Patient compartment at all (Organization, Medication, ...), which the scopes govern by type alone.
   */
  patients?: string[];
  /** The requester as the consent decision needs it (src/consent): compiled by query/consent-condition.ts. */
  consent?: ConsentFacts;
}

/**
 * The search engine (src/fhir/search). Restrictions (compartment of patient/ scopes, consent) are compiled into
 * its SQL by later pipeline stages through the principal; the engine never filters pages in JavaScript.
 */
export interface SearchEngine {
  /** Runs a search and returns a complete `searchset` Bundle (entries, total, links, include/outcome entries). */
  search(q: Queryable, request: SearchRequest): Promise<any>;
  /**
   * The same Bundle as JSON text, built around each resource's stored JSON without parsing it (the REST door's form),
   * with the patients (`Patient/id`) whose data it holds: the Patients among its entries and the patients the other
   * entries are about (subject/patient/beneficiary), for the audit trail.
   */
  searchJson(q: Queryable, request: SearchRequest): Promise<{ json: string; patients: string[] }>;
  /**
   * Ids of the current resources of `resourceType` matching `criteria` (a query string such as
   * `identifier=http://x|1&active=true`), at most `limit`. Used by conditional create/update/delete/patch and
   * conditional references in bundles. Throws FhirError(400) for criteria it cannot evaluate. `_id=X` with a
   * restriction answers whether the caller may see resource X.
   */
  matchIds(q: Queryable, resourceType: string, criteria: string, limit: number, restriction?: AccessRestriction): Promise<string[]>;
  /**
   * Internal rids (ascending, after `afterRid`) of the current resources of `resourceType` that match any of
   * `filters` (query strings; none = every resource of the type) and the restriction, at most `limit`: a keyset walk
   * for bulk export's `_typeFilter` and patient cohorts. Throws FhirError(400) for filters it cannot evaluate.
   */
  scanRids(q: Queryable, resourceType: string, opts: { filters?: string[]; afterRid: string; limit: number; restriction?: AccessRestriction }): Promise<string[]>;
}

export const SEARCH_ENGINE = Symbol('SEARCH_ENGINE');
