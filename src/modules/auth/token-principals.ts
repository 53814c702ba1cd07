import type { Provider } from 'oidc-provider';
import { FhirError } from '../../fhir/operation-outcome.js';
import type { Principal } from '../../fhir/pipeline/principal.js';
import type { ClientRegistry } from './client-registry.js';
import type { TokenRemovalListener } from './pg-oidc-adapter.js';
import { storedPurposePolicy, withPurposes, type PurposePolicy } from './purpose-of-use.js';
import type { UserAccounts } from './user-accounts.js';

/**
 * How long a token looked up in PostgreSQL is trusted without asking again. A revocation in this process takes
 * effect at once (the adapter tells this cache); in another hub process sharing the database, within this bound.
 */
export const TOKEN_CACHE_MS = 10_000;
const MAX_CACHED = 10_000;

interface Cached {
  /** the token's principal, without what each request adds (address, purposes of use) */
  principal: Principal;
  /** what the token's client may declare as purpose of use, and its default */
  purposes: PurposePolicy;
  /** when the token itself expires (ms) */
  expiresAt: number;
  checkedAt: number;
  grantId?: string;
}

export function unauthorized(description: string | undefined, realm: string): FhirError {
  const challenge = description ? `Bearer realm="${realm}", error="invalid_token", error_description="${description.replace(/"/g, "'")}"` : `Bearer realm="${realm}"`;
  return new FhirError(401, description ? `Invalid bearer token: ${description}` : 'This request needs a bearer token (SMART on FHIR)', 'login', { 'WWW-Authenticate': challenge });
}

/** The cached principal as one request makes it: its address, its purposes of use (per request, never cached). */
function forRequest(entry: Omit<Cached, 'checkedAt'>, address: string | undefined, purposeOfUse: string | undefined): Principal {
  const principal = address === undefined ? entry.principal : { ...entry.principal, address };
  return withPurposes(principal, entry.purposes, purposeOfUse);
}

/**
 * Bearer token → Principal. Tokens are opaque and stored (so introspection and revocation are exact); a lookup is
 * cached briefly so the read path costs one Map lookup per request, not a query. The cache holds what belongs to the
 * token (client, user, organization, scopes, launch context, the client's purposes of use); each request adds its
 * own address and declared purposes.
 */
export class TokenPrincipals implements TokenRemovalListener {
  private readonly cache = new Map<string, Cached>();
  private readonly byGrant = new Map<string, Set<string>>();
  private provider?: Provider;

  constructor(
    private readonly users: UserAccounts,
    private readonly clients: ClientRegistry,
    private readonly realm: string,
  ) {}

  attach(provider: Provider): void {
    this.provider = provider;
  }

  /** The principal of a request with this Authorization header (and X-Purpose-Of-Use header, when given). */
  async principalFor(authorization: string | undefined, address: string | undefined, purposeOfUse?: string): Promise<Principal> {
    if (!authorization) throw unauthorized(undefined, this.realm);
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
    if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"', this.realm);
    const token = m[1];
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit && now - hit.checkedAt < TOKEN_CACHE_MS) {
      if (now >= hit.expiresAt) throw unauthorized('the token has expired', this.realm);
      return forRequest(hit, address, purposeOfUse);
    }
    const found = await this.lookup(token);
    if (!found) {
      this.forget(token);
      throw unauthorized('the token is unknown, expired or revoked', this.realm);
    }
    this.remember(token, found);
    return forRequest(found, address, purposeOfUse);
  }

  private async lookup(token: string): Promise<Omit<Cached, 'checkedAt'> | undefined> {
    const provider = this.provider;
    if (!provider || token.length > 512) return undefined;
    const at = (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
    if (!at || at.isExpired) return undefined;
    const scopes = (at.scope ?? '').split(' ').filter(Boolean);
    const extra: any = (at as any).extra ?? {};
    const client = at.clientId ? await this.clients.find(at.clientId) : undefined;
    if (!client) return undefined; // the client was removed, and its tokens with it
    const principal: Principal = { kind: 'client', clientId: at.clientId, scopes };
    const accountId = (at as any).accountId as string | undefined;
    if (accountId) {
      const user = await this.users.find(accountId);
      if (!user?.active) return undefined;
      principal.kind = user.fhirUser?.startsWith('Patient/') ? 'patient' : 'user';
      principal.userId = user.id;
      principal.fhirUser = user.fhirUser;
      // a user acts for their own organization (unset: the consent stage finds it in their PractitionerRoles), not the app's
      if (principal.kind === 'user' && user.organization) principal.organization = user.organization;
    } else if (typeof client.hub_organization === 'string') {
      principal.organization = client.hub_organization;
    }
    if (extra.patient) principal.patient = extra.patient;
    if (extra.encounter) principal.encounter = extra.encounter;
    if (extra.fhirContext) principal.fhirContext = extra.fhirContext;
    Object.freeze(principal);
    return { principal, purposes: storedPurposePolicy(client), expiresAt: (at.exp ?? 0) * 1000, grantId: (at as any).grantId };
  }

  private remember(token: string, entry: Omit<Cached, 'checkedAt'>): void {
    if (this.cache.size >= MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
    this.cache.delete(token);
    this.cache.set(token, { ...entry, checkedAt: Date.now() });
    if (entry.grantId) {
      let set = this.byGrant.get(entry.grantId);
      if (!set) this.byGrant.set(entry.grantId, (set = new Set()));
      set.add(token);
    }
  }

  private forget(token: string): void {
    const hit = this.cache.get(token);
    this.cache.delete(token);
    if (hit?.grantId) {
      const set = this.byGrant.get(hit.grantId);
      set?.delete(token);
      if (set && !set.size) this.byGrant.delete(hit.grantId);
    }
  }

  /** TokenRemovalListener: a token row was deleted (revocation, consumption). */
  removed(id: string): void {
    this.forget(id);
  }

  grantRevoked(grantId: string): void {
    for (const token of this.byGrant.get(grantId) ?? []) this.cache.delete(token);
    this.byGrant.delete(grantId);
  }

  /** Forgets every cached token of a client (the client was deleted). */
  clientRemoved(clientId: string): void {
    for (const [token, c] of this.cache) if (c.principal.clientId === clientId) this.forget(token);
  }
}
