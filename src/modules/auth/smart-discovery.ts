import type { CapabilityContributor } from '../../fhir/capability/capability-statement.js';
import { NON_CLINICAL_SCOPES } from './smart-scopes.js';

/** The authorization server's endpoints as clients reach them. */
export interface AuthEndpoints {
  issuer: string;
  authorize: string;
  token: string;
  introspect: string;
  revoke: string;
  register: string;
  jwks: string;
  userinfo: string;
  manage: string;
}

export function authEndpoints(publicBase: string): AuthEndpoints {
  const issuer = `${publicBase}/auth`;
  return {
    issuer,
    authorize: `${issuer}/auth`,
    token: `${issuer}/token`,
    introspect: `${issuer}/token/introspection`,
    revoke: `${issuer}/token/revocation`,
    register: `${issuer}/reg`,
    jwks: `${issuer}/jwks`,
    userinfo: `${issuer}/me`,
    manage: `${issuer}/admin/clients`,
  };
}

/** `GET [base]/.well-known/smart-configuration` (SMART App Launch 2.x, section "Conformance"). */
export function smartConfiguration(e: AuthEndpoints): Record<string, unknown> {
  return {
    issuer: e.issuer,
    jwks_uri: e.jwks,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    registration_endpoint: e.register,
    userinfo_endpoint: e.userinfo,
    management_endpoint: e.manage,
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384', 'RS256', 'ES256'],
    scopes_supported: [
      ...NON_CLINICAL_SCOPES,
      'patient/*.rs', 'patient/*.cruds', 'patient/*.read', 'patient/*.write', 'patient/*.*',
      'user/*.rs', 'user/*.cruds', 'user/*.read', 'user/*.write', 'user/*.*',
      'system/*.rs', 'system/*.cruds', 'system/*.read', 'system/*.write', 'system/*.*',
    ],
    capabilities: [
      'launch-ehr', 'launch-standalone', 'authorize-post',
      'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric',
      'sso-openid-connect',
      'context-ehr-patient', 'context-ehr-encounter', 'context-standalone-patient',
      'context-banner', 'context-style',
      'permission-offline', 'permission-online', 'permission-patient', 'permission-user', 'permission-v1', 'permission-v2',
    ],
  };
}

/** The SMART security block of the CapabilityStatement (oauth-uris extension, SMART-on-FHIR service). */
export class SmartCapabilityContributor implements CapabilityContributor {
  constructor(private readonly endpoints: () => AuthEndpoints | undefined) {}

  contribute(cs: any): void {
    const e = this.endpoints();
    if (!e) return;
    for (const rest of cs.rest ?? []) {
      rest.security = {
        cors: true,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }], text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)' }],
        extension: [
          {
            url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
            extension: [
              { url: 'authorize', valueUri: e.authorize },
              { url: 'token', valueUri: e.token },
              { url: 'introspect', valueUri: e.introspect },
              { url: 'revoke', valueUri: e.revoke },
              { url: 'register', valueUri: e.register },
              { url: 'manage', valueUri: e.manage },
            ],
          },
        ],
        description: 'SMART App Launch 2.x and Backend Services; discovery at .well-known/smart-configuration',
      };
    }
  }
}
