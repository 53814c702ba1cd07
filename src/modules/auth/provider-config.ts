import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';
import type { Db } from '../database/db.js';
import { checkContext, type LaunchContexts } from './launch-contexts.js';
import { pgAdapterClass, type TokenRemovalListener } from './pg-oidc-adapter.js';
import type { ProviderKeys } from './signing-keys.js';
import { allowedScopes, DEFAULT_CLIENT_SCOPE, NON_CLINICAL_SCOPES, parseClinicalScope } from './smart-scopes.js';
import type { UserAccounts } from './user-accounts.js';

/** Lifetimes (seconds). Access tokens are short; refresh tokens of offline_access long; online_access ends with the session. */
export const TTL = {
  accessToken: 3600,
  /** HUB_AUTH_SYSTEM_TOKEN_TTL (seconds) changes it, e.g. for long benchmark runs */
  clientCredentials: Number(process.env.HUB_AUTH_SYSTEM_TOKEN_TTL) > 0 ? Number(process.env.HUB_AUTH_SYSTEM_TOKEN_TTL) : 900,
  authorizationCode: 60,
  refreshToken: 30 * 24 * 3600,
  session: 24 * 3600,
  interaction: 3600,
  grant: 365 * 24 * 3600,
} as const;

/** Longest accepted lifetime of a backend client's assertion (SMART Backend Services: exp at most 5 minutes ahead). */
export const MAX_ASSERTION_LIFETIME_S = 300;

export interface ProviderDeps {
  db: Db;
  keys: ProviderKeys;
  users: UserAccounts;
  contexts: LaunchContexts;
  fhirBaseUrl: string;
  tokens: TokenRemovalListener;
}

/**
 * What a client may ask for. Clients the admin API or CLI registered: their `hub_scope` (SMART semantics: a
 * wildcard covers narrower scopes). Self-registered ones: the default (read-only patient/ and user/ access, launch,
 * identity, refresh), whatever they registered.
 */
export function clientScopeCeiling(client: { scope?: string; hub_scope?: string; hub_admin_registered?: boolean } | undefined): string | undefined {
  // oidc-provider keeps extra metadata under its registered (snake_case) names
  if (client?.hub_admin_registered === true) return client.hub_scope ?? '';
  return DEFAULT_CLIENT_SCOPE;
}

/**
 * oidc-provider's configuration for the hub: SMART App Launch 2.x (authorization code + PKCE S256, launch
 * contexts, refresh) and Backend Services (client_credentials with private_key_jwt), introspection, revocation and
 * dynamic registration, everything stored in PostgreSQL.
 */
export function providerConfiguration(deps: ProviderDeps): Configuration {
  const { fhirBaseUrl } = deps;
  const policy = interactionPolicy.base();
  // every authorization shows the approval page (it also picks the patient): a grant is never silently reused
  policy.get('consent')!.checks.add(
    new interactionPolicy.Check('smart_approval', 'the user approves each SMART authorization', (ctx) =>
      ctx.oidc.result?.consent?.grantId ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
    ),
  );
  return {
    adapter: pgAdapterClass(deps.db, deps.tokens),
    clients: [],
    jwks: deps.keys.jwks,
    cookies: {
      keys: deps.keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    scopes: NON_CLINICAL_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name', 'preferred_username'] },
    async findAccount(_ctx, sub) {
      const user = await deps.users.find(sub);
      if (!user?.active) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, fhirUser: user.fhirUser ? `${fhirBaseUrl}/${user.fhirUser}` : undefined, name: user.name, preferred_username: user.username };
        },
      };
    },
    extraClientMetadata: {
      // the organization and purposes of use too: only an administrator says whom a client acts for and why
      properties: ['hub_admin_registered', 'hub_scope', 'hub_organization', 'hub_purpose_of_use', 'hub_default_purpose_of_use'],
      validator(ctx, key, value) {
        // only the admin API and the CLI (which write the table directly) may mark a client as trusted
        if (value !== undefined && ctx?.oidc?.route?.startsWith('registration')) {
          throw new errors.InvalidClientMetadata(`${key} cannot be set through dynamic registration`);
        }
      },
    },
    extraParams: {
      async aud(ctx, value) {
        if (ctx.oidc.route !== 'authorization') return;
        // SMART: the app names the FHIR server it wants a token for; a token for another server is refused
        if (value === undefined) throw new errors.InvalidRequest("missing required parameter 'aud' (the FHIR base URL)");
        if (String(value).replace(/\/$/, '') !== fhirBaseUrl) throw new errors.InvalidRequest(`aud must be this server's FHIR base URL ${fhirBaseUrl}`);
      },
      async launch(ctx, value) {
        if (ctx.oidc.route !== 'authorization' || value === undefined) return;
        if (!(await deps.contexts.find(String(value)))) throw new errors.InvalidRequest('unknown or expired launch context');
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      registration: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // every token is for the FHIR server: clinical scopes live on the grant as resource scopes of the FHIR base
        // (oidc-provider would drop scopes it cannot list from a request without a resource)
        defaultResource: () => fhirBaseUrl,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, client) {
          if (resource !== fhirBaseUrl) throw new errors.InvalidTarget(`the only resource here is ${fhirBaseUrl}`);
          const grant = (ctx.oidc.entities as any).Grant;
          let scope: string[];
          if (grant && ctx.oidc.route === 'token') {
            scope = String(grant.getResourceScope(resource) ?? '').split(' ').filter(Boolean); // what was approved
          } else {
            const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
            const backend = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
            // system/ scopes only for backend clients; patient/ and user/ only through a person's approval
            scope = allowedScopes(requested, clientScopeCeiling(client as any)).filter((s) => parseClinicalScope(s) && s.startsWith('system/') === backend);
            if (backend && requested.length && !scope.length) throw new errors.InvalidScope('none of the requested scopes is allowed for this client', requested.join(' '));
          }
          return { scope: scope.join(' '), audience: fhirBaseUrl, accessTokenFormat: 'opaque', accessTokenTTL: ctx.oidc.params?.grant_type === 'client_credentials' ? TTL.clientCredentials : TTL.accessToken };
        },
      },
    },
    pkce: { required: () => true },
    // jwks_uri fetches refuse private and loopback addresses (SSRF protection); HUB_AUTH_ALLOW_PRIVATE_FETCH=1
    // lifts that for clients on a private network (and for the tests, whose client keys are on 127.0.0.1)
    fetch: (url, options) => {
      if (process.env.HUB_AUTH_ALLOW_PRIVATE_FETCH === '1') delete (options as any).dispatcher;
      return globalThis.fetch(url, options);
    },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'],
      idTokenSigningAlgValues: ['RS256'],
    },
    async assertJwtClientAuthClaimsAndHeader(_ctx, claims) {
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp - now > MAX_ASSERTION_LIFETIME_S) {
        throw new errors.InvalidClientAuth(`client assertion exp must be at most ${MAX_ASSERTION_LIFETIME_S} seconds ahead`);
      }
    },
    async extraTokenClaims(_ctx, token) {
      const grantId = (token as any).grantId as string | undefined;
      if (!grantId) return undefined;
      const context = await deps.contexts.forGrant(grantId);
      if (!context) return undefined;
      return { patient: context.patient, encounter: context.encounter, fhirContext: context.fhirContext };
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || code.scopes.has('online_access'));
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/auth/interaction/${interaction.uid}`,
    },
    ttl: {
      AccessToken: TTL.accessToken,
      AuthorizationCode: TTL.authorizationCode,
      ClientCredentials: TTL.clientCredentials,
      IdToken: TTL.accessToken,
      Interaction: TTL.interaction,
      Session: TTL.session,
      Grant: TTL.grant,
      RefreshToken(_ctx, token) {
        return token.scopes.has('offline_access') ? TTL.refreshToken : TTL.session;
      },
    },
    conformIdTokenClaims: false,
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Authorization error</title></head><body><h1>Authorization error</h1><pre>${escapeHtml(
        JSON.stringify(out, null, 2),
      )}</pre></body></html>`;
    },
    clientBasedCORS(_ctx, origin, client) {
      // browser apps (public clients) call the token endpoint from their own origin
      return client.redirectUris?.some((u: string) => URL.parse(u)?.origin === origin) ?? false;
    },
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export { checkContext };
