import { randomBytes } from 'node:crypto';
import type { Queryable } from '../database/db.js';
import { purposePolicy } from './purpose-of-use.js';

/** `Organization/<id>`: whom a client, or a user, acts for. */
export const ORGANIZATION_REFERENCE = /^Organization\/[A-Za-z0-9\-.]{1,64}$/;

/** What the admin API and the CLI accept to register an app. */
export interface ClientInput {
  clientId?: string;
  name?: string;
  /** public (browser/native app, PKCE), confidential-symmetric (client_secret_basic), confidential-asymmetric (private_key_jwt) */
  type: 'public' | 'confidential-symmetric' | 'confidential-asymmetric';
  redirectUris?: string[];
  /** space-separated ceiling of what the client may ask for */
  scope: string;
  grantTypes?: string[];
  secret?: string;
  jwks?: { keys: unknown[] };
  jwksUri?: string;
  /** `Organization/<id>` the client belongs to (a partner's system): its tokens act for it, and consents govern them */
  organization?: string;
  /** v3 PurposeOfUse codes the client may declare (X-Purpose-Of-Use); none when unset */
  purposeOfUse?: string[];
  /** what its requests carry when they declare nothing (among purposeOfUse; alone, it is the only one allowed); none when unset */
  defaultPurposeOfUse?: string[] | string;
}

export interface RegisteredClient {
  clientId: string;
  clientSecret?: string;
  metadata: Record<string, unknown>;
}

/** oidc-provider client metadata for an admin-registered client. */
export function clientMetadata(input: ClientInput): RegisteredClient {
  const clientId = input.clientId ?? randomBytes(12).toString('base64url');
  if (!/^[\w.\-:]{1,128}$/.test(clientId)) throw new Error('clientId: 1-128 letters, digits or . - _ :');
  if (typeof input.scope !== 'string' || !input.scope.trim()) throw new Error('scope is required (what the client may ask for)');
  const redirectUris = input.redirectUris ?? [];
  const backend = input.type === 'confidential-asymmetric' || (input.grantTypes ?? []).includes('client_credentials');
  const grantTypes = input.grantTypes ?? (input.type === 'confidential-asymmetric' ? ['client_credentials'] : ['authorization_code', 'refresh_token']);
  const metadata: Record<string, unknown> = {
    client_id: clientId,
    client_name: input.name ?? clientId,
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    redirect_uris: redirectUris,
    // SMART ceiling (wildcards cover narrower scopes); `scope` itself would mean exact matches to oidc-provider
    hub_scope: input.scope.trim().split(/\s+/).join(' '),
    hub_admin_registered: true,
  };
  if (grantTypes.includes('authorization_code') && !redirectUris.length) throw new Error('redirectUris are required for the authorization code flow');
  if (input.organization !== undefined) {
    if (typeof input.organization !== 'string' || !ORGANIZATION_REFERENCE.test(input.organization)) throw new Error('organization must be a reference like Organization/123');
    metadata.hub_organization = input.organization;
  }
  const purposes = purposePolicy(input.purposeOfUse, input.defaultPurposeOfUse);
  if (purposes.allowed.length) metadata.hub_purpose_of_use = purposes.allowed;
  if (purposes.defaults.length) metadata.hub_default_purpose_of_use = purposes.defaults;
  let clientSecret: string | undefined;
  switch (input.type) {
    case 'public':
      if (backend) throw new Error('a public client cannot use client_credentials');
      metadata.token_endpoint_auth_method = 'none';
      break;
    case 'confidential-symmetric':
      clientSecret = input.secret ?? randomBytes(32).toString('base64url');
      metadata.client_secret = clientSecret;
      metadata.token_endpoint_auth_method = 'client_secret_basic';
      break;
    case 'confidential-asymmetric':
      if (!input.jwks && !input.jwksUri) throw new Error('a confidential-asymmetric client needs jwks or jwksUri');
      if (input.jwks) metadata.jwks = input.jwks;
      if (input.jwksUri) metadata.jwks_uri = input.jwksUri;
      metadata.token_endpoint_auth_method = 'private_key_jwt';
      break;
    default:
      throw new Error('type must be public, confidential-symmetric or confidential-asymmetric');
  }
  return { clientId, clientSecret, metadata };
}

/** Registered apps (auth_client), as the admin API and the CLI see them. */
export class ClientRegistry {
  constructor(private readonly db: Queryable) {}

  async save(client: RegisteredClient): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_client (client_id, metadata) VALUES ($1, $2)
       ON CONFLICT (client_id) DO UPDATE SET metadata = EXCLUDED.metadata, updated_at = now()`,
      [client.clientId, client.metadata],
    );
  }

  async list(): Promise<Record<string, unknown>[]> {
    const res = await this.db.query('SELECT metadata FROM auth_client ORDER BY client_id');
    return res.rows.map((r: any) => withoutSecret(r.metadata));
  }

  async find(clientId: string): Promise<Record<string, unknown> | undefined> {
    const res = await this.db.query('SELECT metadata FROM auth_client WHERE client_id = $1', [clientId]);
    return res.rows[0] ? withoutSecret(res.rows[0].metadata) : undefined;
  }

  /** Removes the client and every token and grant it holds. */
  async remove(clientId: string): Promise<boolean> {
    const res = await this.db.query('DELETE FROM auth_client WHERE client_id = $1', [clientId]);
    await this.db.query(`DELETE FROM auth_model WHERE payload->>'clientId' = $1`, [clientId]);
    return (res.rowCount ?? 0) > 0;
  }
}

function withoutSecret(m: Record<string, unknown>): Record<string, unknown> {
  const { client_secret: _s, ...rest } = m;
  return rest;
}
