import type { Queryable } from '../../modules/database/db.js';
import type { QueryParams } from '../pipeline/interaction.js';
import type { Principal } from '../pipeline/principal.js';

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
}

/**
 * The search engine (src/fhir/search). Restrictions (compartment of patient/ scopes, consent) are compiled into
 * its SQL by later pipeline stages through the principal; the engine never filters pages in JavaScript.
 */
export interface SearchEngine {
  /** Runs a search and returns a complete `searchset` Bundle (entries, total, links, include/outcome entries). */
  search(q: Queryable, request: SearchRequest): Promise<any>;
  /**
   * Ids of the current resources of `resourceType` matching `criteria` (a query string such as
   * `identifier=http://x|1&active=true`), at most `limit`. Used by conditional create/update/delete/patch and
   * conditional references in bundles. Throws FhirError(400) for criteria it cannot evaluate.
   */
  matchIds(q: Queryable, resourceType: string, criteria: string, limit: number): Promise<string[]>;
}

export const SEARCH_ENGINE = Symbol('SEARCH_ENGINE');
