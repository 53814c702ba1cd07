import type { InteractionKind } from '../fhir/pipeline/interaction.js';
import type { Principal } from '../fhir/pipeline/principal.js';
import type { ConsentFacts } from '../fhir/search/query/consent-condition.js';
import type { BasePolicy } from './consent-rules.js';

/** Tag on each stored version naming the organization that wrote it (set by the hub, never taken from a client). */
export const WRITING_ORGANIZATION_SYSTEM = 'urn:hie-hub:writing-organization';

/**
 * Whether patient consents govern what this principal sees. Not governed: the hub itself (and development mode),
 * a patient (the authorize stage limits them to their own compartment), and clients registered without an
 * organization — the hub operator's own integrations (e.g. the bootstrap client). Users always are, and so are
 * clients of an organization.
 */
export function governedByConsent(p: Principal): boolean {
  if (p.kind === 'system' || p.kind === 'patient') return false;
  if (p.kind === 'client') return !!p.organization;
  return true;
}

/** Consent actions an interaction performs: reading is access (also use/disclose rules apply), writing is correct. */
export function actionsOf(kind: InteractionKind): string[] {
  switch (kind) {
    case 'update':
    case 'patch':
    case 'delete':
      return ['access', 'use', 'disclose', 'correct'];
    default:
      return ['access', 'use', 'disclose'];
  }
}

/**
 * The requester's facts. `roles` are what the user's PractitionerRoles add (their ids and organizations), for users
 * whose token names no organization.
 */
export function requesterFacts(
  p: Principal,
  kind: InteractionKind,
  base: BasePolicy,
  breakGlassPatients: string[],
  roles: { roles: string[]; organizations: string[] } = { roles: [], organizations: [] },
): ConsentFacts {
  const organizations = [...new Set([p.organization, ...roles.organizations].filter((o): o is string => !!o))];
  const actors = [p.fhirUser, ...organizations, ...(p.actingAs ?? []), ...roles.roles].filter((a): a is string => !!a);
  return {
    base,
    organizations,
    actors: [...new Set(actors)],
    purposes: [...new Set(p.purposeOfUse ?? [])],
    actions: actionsOf(kind),
    breakGlassPatients,
  };
}
