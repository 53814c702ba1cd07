import type { QueryParams } from '../../fhir/pipeline/interaction.js';
import { parseQueryString } from '../../fhir/pipeline/request-parser.js';

/** SMART permission letters (scopes v2): create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

/** One SMART clinical scope, v1 (`patient/Observation.read`) or v2 (`user/Encounter.cruds?category=x`). */
export interface ClinicalScope {
  raw: string;
  context: ScopeContext;
  /** a resource type, or '*' for every type */
  resourceType: string;
  perms: Set<Permission>;
  /** v2 query restriction (`?category=...`): resources must also match these search criteria */
  query?: QueryParams;
}

const CLINICAL = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|c?r?u?d?s?)(\?.+)?$/;

/** Scopes that are not clinical: identity, launch context and refresh. */
export const NON_CLINICAL_SCOPES = ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access'];

/** What a client may ask for when its registration names no scopes. */
export const DEFAULT_CLIENT_SCOPE = 'openid fhirUser profile launch launch/patient launch/encounter offline_access online_access patient/*.rs user/*.rs';

export function parseClinicalScope(raw: string): ClinicalScope | undefined {
  const m = CLINICAL.exec(raw);
  if (!m || m[3] === '') return undefined;
  const [, context, resourceType, access, query] = m;
  const perms = new Set<Permission>(
    access === 'read' ? ['r', 's'] : access === 'write' ? ['c', 'u', 'd'] : access === '*' ? ['c', 'r', 'u', 'd', 's'] : (access.split('') as Permission[]),
  );
  let parsedQuery: QueryParams | undefined;
  if (query) {
    try {
      parsedQuery = parseQueryString(query.slice(1));
    } catch {
      return undefined;
    }
    if (!parsedQuery.length || parsedQuery.some(([k]) => !k || k.startsWith('_'))) return undefined;
  }
  return { raw, context: context as ScopeContext, resourceType, perms, query: parsedQuery };
}

export function clinicalScopes(scopes: readonly string[]): ClinicalScope[] {
  const out: ClinicalScope[] = [];
  for (const s of scopes) {
    const c = parseClinicalScope(s);
    if (c) out.push(c);
  }
  return out;
}

function sameQuery(a: QueryParams | undefined, b: QueryParams | undefined): boolean {
  if (!a) return true; // an unrestricted grant covers a restricted request
  if (!b || a.length !== b.length) return false;
  return a.every(([k, v], i) => b[i][0] === k && b[i][1] === v);
}

/** Whether `granted` allows everything `requested` asks (same context, type or *, permissions, query). */
export function covers(granted: ClinicalScope, requested: ClinicalScope): boolean {
  if (granted.context !== requested.context) return false;
  if (granted.resourceType !== '*' && granted.resourceType !== requested.resourceType) return false;
  for (const p of requested.perms) if (!granted.perms.has(p)) return false;
  return sameQuery(granted.query, requested.query);
}

/**
 * The requested scopes a client may have: non-clinical scopes listed in its registration, clinical scopes covered
 * by a registered one (`patient/*.rs` allows `patient/Observation.rs` and `patient/Observation.read`). The rest is
 * dropped, as SMART lets a server grant less than was asked.
 */
export function allowedScopes(requested: readonly string[], registered: string | undefined): string[] {
  const allow = (registered ?? DEFAULT_CLIENT_SCOPE).split(' ').filter(Boolean);
  const allowSet = new Set(allow);
  const allowClinical = clinicalScopes(allow);
  const out: string[] = [];
  for (const s of new Set(requested)) {
    const c = parseClinicalScope(s);
    if (c ? allowClinical.some((g) => covers(g, c)) : allowSet.has(s)) out.push(s);
  }
  return out;
}

/** How an interaction may proceed under a principal's scopes. */
export type ScopeDecision =
  | { allowed: false }
  /** `patientOnly`: only the patient compartment of the context patient; `queries`: one scope's criteria must match */
  | { allowed: true; patientOnly: boolean; queries?: QueryParams[] };

/**
 * Decides one permission on one resource type. user/ and system/ scopes (the hub has no per-user access lists)
 * give the type without compartment; patient/ scopes give it within the context patient's compartment. A scope
 * without a query restriction beats restricted ones at the same level.
 */
export function decide(scopes: readonly ClinicalScope[], resourceType: string, perm: Permission): ScopeDecision {
  const fits = scopes.filter((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.perms.has(perm));
  if (!fits.length) return { allowed: false };
  const wide = fits.filter((s) => s.context !== 'patient');
  const chosen = wide.length ? wide : fits;
  const patientOnly = !wide.length;
  if (chosen.some((s) => !s.query)) return { allowed: true, patientOnly };
  return { allowed: true, patientOnly, queries: chosen.map((s) => s.query!) };
}
