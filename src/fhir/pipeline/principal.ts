import { FhirError } from '../operation-outcome.js';

/** Who is asking. The REST door fills it from the bearer token (src/modules/auth). */
export interface Principal {
  /** 'system' for the hub itself and for development mode without authentication. */
  kind: 'system' | 'client' | 'user' | 'patient' | 'anonymous';
  clientId?: string;
  userId?: string;
  /** FHIR resource reference of the user, e.g. Practitioner/123 */
  fhirUser?: string;
  /** SMART launch context: Patient id and Encounter id (not references), and further context resources */
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  scopes: string[];
  /**
   * Why this request is made: v3 PurposeOfUse codes (http://terminology.hl7.org/CodeSystem/v3-ActReason), declared
   * with the request's X-Purpose-Of-Use header within what the client may declare, else the client's default.
   */
  purposeOfUse?: readonly string[];
  /** Network address of the caller, for the audit record. */
  address?: string;
  // --- consent (src/consent): filled by the auth module ---
  /** the organization the user works for or the client belongs to, as `Organization/id` */
  organization?: string;
  /** further references the user acts as, matched against Consent provision actors (PractitionerRole/.., CareTeam/..) */
  actingAs?: string[];
  /** set by the consent stage while the user holds break-the-glass sessions (the audit marker) */
  breakGlass?: { sessions: string[]; patients: string[] };
}

/** The principal used while authentication is not configured: full access, and said so in the logs. */
export const DEVELOPMENT_PRINCIPAL: Principal = Object.freeze({ kind: 'system', scopes: ['system/*.*'] }) as Principal;

/** What a door hands the authenticator: the request's credentials and declarations, as sent. */
export interface AuthenticationRequest {
  /** the Authorization header */
  authorization?: string;
  /** the X-Purpose-Of-Use header (`CODE[,CODE]`, codes also as `system|code`), unparsed */
  purposeOfUse?: string;
  /** the caller's network address */
  address?: string;
  /** path relative to the FHIR base */
  path: string;
  method: string;
}

/**
 * Turns a request's credentials into the Principal (src/modules/auth provides it; every door calls it: REST,
 * GraphQL, bulk data). It throws a FhirError(401) with a WWW-Authenticate challenge for a missing or bad token, and
 * a `RefusedCaller` (400 malformed, 403 not allowed) for a purpose of use the caller may not declare.
 */
export interface RequestAuthenticator {
  authenticate(request: AuthenticationRequest): Principal | Promise<Principal>;
}

/** A request refused after its caller was recognised (e.g. a purpose of use it may not declare): who it was, for the audit record. */
export class RefusedCaller extends FhirError {
  constructor(
    readonly principal: Principal,
    error: FhirError,
  ) {
    super(error.status, error.outcome, undefined, error.headers);
  }
}

export const REQUEST_AUTHENTICATOR = Symbol('REQUEST_AUTHENTICATOR');
