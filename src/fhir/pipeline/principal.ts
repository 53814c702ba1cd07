/** Who is asking. Issue 4 (SMART authorization) fills this from the bearer token. */
export interface Principal {
  /** 'system' for the hub itself and for development mode without authentication. */
  kind: 'system' | 'client' | 'user' | 'patient' | 'anonymous';
  clientId?: string;
  userId?: string;
  /** FHIR resource reference of the user, e.g. Practitioner/123 */
  fhirUser?: string;
  patient?: string;
  encounter?: string;
  scopes: string[];
  purposeOfUse?: string[];
  /** Network address of the caller, for the audit record. */
  address?: string;
}

/** The principal used while authentication is not configured: full access, and said so in the logs. */
export const DEVELOPMENT_PRINCIPAL: Principal = Object.freeze({ kind: 'system', scopes: ['system/*.*'] }) as Principal;
