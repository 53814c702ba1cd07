import { randomUUID } from 'node:crypto';
import { http } from '../support/hub.js';
import { bearer, createApp, createUser, login } from './auth-support.js';

/** Helpers for the consent tests: Consent resources, practitioners with user tokens, the base policy. */

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export function consent(patientId: string, provision: any, extra: Record<string, unknown> = {}): any {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: LOINC, code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    policyRule: { coding: [{ system: ACT_CODE, code: 'OPTIN' }] },
    provision,
    ...extra,
  };
}

export const actor = (reference: string) => ({
  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
  reference: { reference },
});

export async function create(resource: any): Promise<string> {
  const res = await http('POST', resource.resourceType, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType}: ${res.status} ${res.text}`);
  return res.body.id;
}

export interface Clinician {
  practitioner: string;
  userId: string;
  headers: Record<string, string>;
}

let app: { clientId: string } | undefined;

/** A practitioner with a user account and a `user/*.cruds` token; with `organization`, a PractitionerRole there. */
export async function clinician(family: string, organization?: string): Promise<Clinician> {
  app ??= await createApp('openid fhirUser user/*.cruds');
  const practitioner = `Practitioner/${await create({ resourceType: 'Practitioner', name: [{ family: `${family}-${randomUUID().slice(0, 6)}` }] })}`;
  if (organization) {
    await create({ resourceType: 'PractitionerRole', active: true, practitioner: { reference: practitioner }, organization: { reference: organization } });
  }
  const user = await createUser(practitioner);
  const t = await login({ clientId: app.clientId, scope: 'openid fhirUser user/*.cruds', user });
  return { practitioner, userId: user.id, headers: bearer(t.access_token) };
}

export async function setPolicy(change: { base?: 'opt-in' | 'opt-out'; hideDenied?: boolean }): Promise<void> {
  const parameter = [
    ...(change.base ? [{ name: 'base', valueCode: change.base }] : []),
    ...(change.hideDenied !== undefined ? [{ name: 'hideDenied', valueBoolean: change.hideDenied }] : []),
  ];
  const res = await http('POST', '$consent-policy', { resourceType: 'Parameters', parameter });
  if (res.status !== 200) throw new Error(`$consent-policy: ${res.status} ${res.text}`);
}

/** Total of a search with `_total=accurate`, and the ids of its first page. */
export async function searchAs(who: Clinician, query: string): Promise<{ status: number; total?: number; ids: string[]; body: any }> {
  const sep = query.includes('?') ? '&' : '?';
  const res = await http('GET', `${query}${sep}_total=accurate`, undefined, who.headers);
  return { status: res.status, total: res.body?.total, ids: (res.body?.entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`), body: res.body };
}
