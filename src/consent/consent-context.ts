import type { Principal } from '../fhir/pipeline/principal.js';
import type { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';
import { consentContextExpression, consentFactsCte, type ConsentFacts, type LiveFacts } from '../fhir/search/query/consent-condition.js';
import { SqlParams } from '../fhir/search/query/sql-params.js';
import type { Queryable } from '../modules/database/db.js';
import type { ConsentPolicy } from './consent-policy.js';

/** What a practitioner's active PractitionerRoles add to a user whose token names no organization. */
export interface PractitionerAffiliation {
  /** `PractitionerRole/x` of the practitioner's active roles */
  roles: string[];
  /** `Organization/x` those roles are with */
  organizations: string[];
}

/** A deny provision that applies to the requester and one of the patients a search names. */
export interface SearchDenial {
  patientId: string;
  consentId: string;
  provision: string;
}

/** What the consent stage knows about a request, as the database had it when the request was decided. */
export interface ConsentContext {
  policy: ConsentPolicy;
  /** the user's running break-the-glass sessions (none for other principals) */
  breakGlass: { sessions: string[]; patients: string[] };
  /** for users whose token names no organization: what their PractitionerRoles add */
  affiliation?: PractitionerAffiliation;
  /** for searches that name patients: the deny provisions of theirs that apply to this requester (at most 20) */
  denials: SearchDenial[];
  /**
   * How long the rest holds (consent-facts-cache.ts): until the consent generation moves on from `gen`, or until
   * `nextChange` (epoch milliseconds by the database's clock, null: never), when one of the user's sessions starts
   * or ends.
   */
  generation?: { gen: string; nextChange: number | null };
}

/**
 * The facts the database adds to a principal's own (live facts, see `ConsentFacts.live`): the user whose
 * break-the-glass sessions count, and the practitioner whose PractitionerRoles count (only when the token names no
 * organization).
 */
export function liveFactsOf(p: Principal, patients: string[]): LiveFacts {
  const wantsRoles = p.kind === 'user' && !p.organization && !!p.fhirUser?.startsWith('Practitioner/');
  return {
    userId: p.kind === 'user' && p.userId ? p.userId : null,
    practitioner: wantsRoles ? p.fhirUser!.slice('Practitioner/'.length) : null,
    patients,
  };
}

/** The context from the JSON the statement returned (`consentContextExpression`). */
export function parseContext(raw: any, live: LiveFacts): ConsentContext {
  return {
    policy: { base: raw.optIn ? 'opt-in' : 'opt-out', hideDenied: !!raw.hideDenied },
    breakGlass: { sessions: raw.sessions ?? [], patients: raw.patients ?? [] },
    affiliation: live.practitioner ? { roles: raw.roles ?? [], organizations: raw.organizations ?? [] } : undefined,
    denials: parseDenials(raw.denials),
    generation: typeof raw.gen === 'string' ? { gen: raw.gen, nextChange: raw.nextChange === null || raw.nextChange === undefined ? null : Number(raw.nextChange) } : undefined,
  };
}

/** `[[patient, consent, provision], ...]` as the statement returns them. */
export function parseDenials(raw: unknown): SearchDenial[] {
  return ((raw as string[][] | null | undefined) ?? []).map(([patientId, consentId, provision]) => ({ patientId, consentId, provision }));
}

/**
 * Reads the context of a request that is not a search (reads, writes, operations) in one statement — the same SQL
 * a search's page statement returns alongside its page, so a search needs no round trip of its own for it. Nothing
 * is kept in the process: a policy change, a session started or ended, a role changed, in this hub process or in
 * another one sharing the database, decides the very next request.
 */
export class ConsentContextReader {
  constructor(private readonly registry: SearchParamRegistry) {}

  async read(q: Queryable, facts: ConsentFacts & { live: LiveFacts }): Promise<ConsentContext> {
    const sql = new SqlParams();
    const text = `WITH ${consentFactsCte(sql, this.registry, facts.live)} SELECT ${consentContextExpression(sql, facts)} AS context`;
    const res = await q.query({ name: `consent_context_${facts.live.practitioner ? 'roles' : 'plain'}`, text, values: sql.values });
    return parseContext(res.rows[0].context, facts.live);
  }
}
