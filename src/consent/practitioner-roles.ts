import type { Queryable } from '../modules/database/db.js';
import type { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';

/** How long this process keeps what it read about a practitioner's roles. */
const ROLES_TTL_MS = 10_000;
const MAX_CACHED = 10_000;

export interface PractitionerAffiliation {
  /** `PractitionerRole/x` of the practitioner's active roles */
  roles: string[];
  /** `Organization/x` those roles are with */
  organizations: string[];
}

/**
 * A practitioner's organizations from their PractitionerRole resources (active or without `active`), for users
 * whose token names no organization. Cached briefly: a role change reaches the consent decision within seconds.
 */
export class PractitionerRoles {
  private readonly cache = new Map<string, { at: number; value: PractitionerAffiliation }>();

  constructor(private readonly registry: SearchParamRegistry) {}

  async of(q: Queryable, practitioner: string): Promise<PractitionerAffiliation> {
    const hit = this.cache.get(practitioner);
    if (hit && Date.now() - hit.at < ROLES_TTL_MS) return hit.value;
    const id = practitioner.slice('Practitioner/'.length);
    const byPractitioner = this.registry.get('PractitionerRole', 'practitioner')!.pid;
    const byOrganization = this.registry.get('PractitionerRole', 'organization')!.pid;
    const active = this.registry.get('PractitionerRole', 'active')!.pid;
    const res = await q.query({
      name: 'consent_practitioner_roles',
      text: `SELECT r.id, o.tid AS organization FROM sp_reference p
             JOIN resource r ON r.rid = p.rid AND r.resource_type = 'PractitionerRole' AND NOT r.deleted
             LEFT JOIN sp_reference o ON o.rid = r.rid AND o.pid = ${byOrganization} AND o.rtype = 'Organization'
             WHERE p.pid = ${byPractitioner} AND p.tid = $1 AND p.rtype = 'Practitioner'
               AND NOT EXISTS (SELECT 1 FROM sp_token a WHERE a.rid = r.rid AND a.pid = ${active} AND a.code = 'false')
             LIMIT 50`,
      values: [id],
    });
    const value: PractitionerAffiliation = {
      roles: [...new Set<string>(res.rows.map((r: any) => `PractitionerRole/${r.id}`))].sort(),
      organizations: [...new Set<string>(res.rows.filter((r: any) => r.organization).map((r: any) => `Organization/${r.organization}`))].sort(),
    };
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(practitioner, { at: Date.now(), value });
    return value;
  }
}
