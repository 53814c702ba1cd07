import type { Principal } from '../fhir/pipeline/principal.js';
import type { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';
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

/** Everything the consent stage needs to know about a request before deciding, read in one statement. */
export interface ConsentContext {
  policy: ConsentPolicy;
  /** the user's running break-the-glass sessions (none for other principals) */
  breakGlass: { sessions: string[]; patients: string[] };
  /** for users whose token names no organization: what their PractitionerRoles add */
  affiliation?: PractitionerAffiliation;
  /** for searches that name patients: the deny provisions of theirs that apply to this requester (at most 20) */
  denials: SearchDenial[];
}

export interface ContextQuestion {
  principal: Principal;
  /** the interaction's consent actions (requester.ts `actionsOf`) */
  actions: string[];
  /** patients the search names (search-disclosure.ts `searchedPatients`); empty otherwise */
  searchedPatients: string[];
}

/**
 * Reads the base policy, the user's break-the-glass sessions, the practitioner's roles and (for searches about
 * named patients) the deny provisions that may hide some of their data — in ONE round trip per request, and with
 * no copy kept in the process: a policy change, a session started or ended, a role changed, in this hub process or
 * in another one sharing the database, decides the very next request. One indexed statement costs less than the
 * separate lookups it replaces, and nothing has to be invalidated.
 */
export class ConsentContextReader {
  private readonly text: string;

  constructor(registry: SearchParamRegistry) {
    const byPractitioner = registry.get('PractitionerRole', 'practitioner')!.pid;
    const byOrganization = registry.get('PractitionerRole', 'organization')!.pid;
    const active = registry.get('PractitionerRole', 'active')!.pid;
    // $1 user id, $2 practitioner id (only when the roles are wanted), $3 the principal's own actors,
    // $4 declared purposes, $5 actions, $6 the searched patients
    this.text = `WITH btg AS (
        SELECT id::text AS id, patient_id FROM break_glass_session
        WHERE $1::text IS NOT NULL AND user_id = $1 AND started_at <= now() AND expires_at > now()),
      roles AS (
        SELECT r.id, o.tid AS organization FROM sp_reference p
        JOIN resource r ON r.rid = p.rid AND r.resource_type = 'PractitionerRole' AND NOT r.deleted
        LEFT JOIN sp_reference o ON o.rid = r.rid AND o.pid = ${byOrganization} AND o.rtype = 'Organization'
        WHERE $2::text IS NOT NULL AND p.pid = ${byPractitioner} AND p.tid = $2 AND p.rtype = 'Practitioner'
          AND NOT EXISTS (SELECT 1 FROM sp_token a WHERE a.rid = r.rid AND a.pid = ${active} AND a.code = 'false')
        LIMIT 50),
      who AS (
        SELECT $3::text[] || ARRAY(SELECT 'PractitionerRole/' || id FROM roles) || ARRAY(SELECT 'Organization/' || organization FROM roles WHERE organization IS NOT NULL) AS actors,
               $4::text[] || CASE WHEN EXISTS (SELECT 1 FROM btg) THEN ARRAY['BTG'] ELSE ARRAY[]::text[] END AS purposes)
      SELECT COALESCE(pol.opt_in, false) AS opt_in, COALESCE(pol.hide_denied, false) AS hide_denied,
        ARRAY(SELECT id FROM btg ORDER BY id) AS btg_sessions,
        ARRAY(SELECT DISTINCT patient_id FROM btg ORDER BY patient_id) AS btg_patients,
        ARRAY(SELECT DISTINCT 'PractitionerRole/' || id FROM roles ORDER BY 1) AS role_ids,
        ARRAY(SELECT DISTINCT 'Organization/' || organization FROM roles WHERE organization IS NOT NULL ORDER BY 1) AS role_organizations,
        (SELECT json_agg(json_build_array(d.patient_id, d.consent_id, d.provision)) FROM (
           SELECT c.patient_id, c.consent_id, c.provision FROM consent_rule c, who
           WHERE c.patient_id = ANY($6::text[]) AND c.deny AND c.valid_lo <= now() AND c.valid_hi >= now()
             AND (c.actors IS NULL OR c.actors && who.actors) AND (c.actions IS NULL OR c.actions && $5::text[])
             AND (c.purposes IS NULL OR c.purposes && who.purposes OR cardinality(who.purposes) = 0)
             AND c.patient_id NOT IN (SELECT patient_id FROM btg)
           ORDER BY c.patient_id, c.depth, c.consent_id, c.provision LIMIT 20) d) AS denials
      FROM (SELECT 1) one LEFT JOIN consent_policy pol ON pol.id = 1`;
  }

  async read(q: Queryable, question: ContextQuestion): Promise<ConsentContext> {
    const p = question.principal;
    const userId = p.kind === 'user' && p.userId ? p.userId : null;
    // a user's organizations come from their PractitionerRoles when the token names none
    const wantsRoles = p.kind === 'user' && !p.organization && !!p.fhirUser?.startsWith('Practitioner/');
    const ownActors = [p.fhirUser, p.organization, ...(p.actingAs ?? [])].filter((a): a is string => !!a);
    const res = await q.query({
      name: 'consent_context',
      text: this.text,
      values: [userId, wantsRoles ? p.fhirUser!.slice('Practitioner/'.length) : null, ownActors, [...(p.purposeOfUse ?? [])], question.actions, question.searchedPatients],
    });
    const row = res.rows[0];
    return {
      policy: { base: row.opt_in ? 'opt-in' : 'opt-out', hideDenied: row.hide_denied },
      breakGlass: { sessions: row.btg_sessions, patients: row.btg_patients },
      affiliation: wantsRoles ? { roles: row.role_ids, organizations: row.role_organizations } : undefined,
      denials: (row.denials ?? []).map(([patientId, consentId, provision]: string[]) => ({ patientId, consentId, provision })),
    };
  }
}
