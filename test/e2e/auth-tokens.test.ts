import { beforeAll, describe, expect, it } from 'vitest';
import { fhirBase, http, systemToken } from '../support/hub.js';
import { admin, authBase, bearer, createApp, createPatient, createUser, hubUrl, login, REDIRECT, token } from './auth-support.js';

/** Discovery, bearer tokens on the FHIR API, introspection, revocation, the admin API and dynamic registration. */

const BOOT = { id: 'test-bootstrap', secret: 'test-bootstrap-secret-0123456789' };

async function introspect(t: string, client = BOOT) {
  const res = await fetch(`${authBase()}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
    body: new URLSearchParams({ token: t }).toString(),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function revoke(t: string, form: Record<string, string>, basic?: { id: string; secret: string }) {
  const res = await fetch(`${authBase()}/token/revocation`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basic ? { authorization: `Basic ${Buffer.from(`${basic.id}:${basic.secret}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams({ token: t, ...form }).toString(),
  });
  return res.status;
}

describe('discovery', () => {
  it('serves .well-known/smart-configuration without a token', async () => {
    const res = await fetch(`${fhirBase()}/.well-known/smart-configuration`);
    expect(res.status).toBe(200);
    const c: any = await res.json();
    expect(c.issuer).toBe(authBase());
    expect(c.authorization_endpoint).toBe(`${authBase()}/auth`);
    expect(c.token_endpoint).toBe(`${authBase()}/token`);
    for (const k of ['introspection_endpoint', 'revocation_endpoint', 'registration_endpoint', 'jwks_uri']) expect(c[k]).toMatch(/^http/);
    expect(c.code_challenge_methods_supported).toEqual(['S256']);
    expect(c.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'client_credentials', 'refresh_token']));
    expect(c.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_basic']));
    expect(c.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS384', 'ES384']));
    expect(c.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'online_access', 'patient/*.rs']));
    expect(c.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric', 'sso-openid-connect',
        'context-ehr-patient', 'context-ehr-encounter', 'context-standalone-patient', 'context-banner', 'context-style',
        'permission-offline', 'permission-online', 'permission-patient', 'permission-user', 'permission-v1', 'permission-v2', 'authorize-post',
      ]),
    );
    // every endpoint it names answers
    expect((await fetch(c.jwks_uri)).status).toBe(200);
  });

  it('serves OpenID discovery and the JWKS at the issuer', async () => {
    const oidc: any = await (await fetch(`${authBase()}/.well-known/openid-configuration`)).json();
    expect(oidc.issuer).toBe(authBase());
    expect(oidc.token_endpoint).toBe(`${authBase()}/token`);
    const jwks: any = await (await fetch(oidc.jwks_uri)).json();
    expect(jwks.keys.some((k: any) => k.kty === 'RSA' && k.alg === 'RS256' && !k.d)).toBe(true);
  });

  it('the CapabilityStatement (public) carries the SMART security extension', async () => {
    const res = await http('GET', 'metadata', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    const security = res.body.rest[0].security;
    expect(security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    const uris = security.extension.find((e: any) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    expect(uris.extension.find((e: any) => e.url === 'token').valueUri).toBe(`${authBase()}/token`);
    expect(uris.extension.find((e: any) => e.url === 'authorize').valueUri).toBe(`${authBase()}/auth`);
  });
});

describe('bearer tokens on the FHIR API', () => {
  it('no token: 401 OperationOutcome with a Bearer challenge', async () => {
    for (const [method, path] of [['GET', 'Patient'], ['GET', 'Patient/x'], ['POST', ''], ['GET', '_history'], ['GET', '$reindex']] as const) {
      const res = await http(method, path, method === 'POST' ? { resourceType: 'Bundle', type: 'batch' } : undefined, { authorization: '' });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="hub"/);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });

  it('a malformed, unknown or made-up token: 401 with error="invalid_token"', async () => {
    for (const authorization of ['Bearer nonsense-token', 'Basic Zm9vOmJhcg==', `Bearer ${systemToken()}x`]) {
      const res = await http('GET', 'Patient', undefined, { authorization });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
  });
});

describe('introspection and revocation', () => {
  let patient: string;
  let app: { clientId: string };
  let user: { username: string; password: string };
  beforeAll(async () => {
    patient = await createPatient('Introspected');
    app = await createApp('openid launch/patient offline_access patient/*.rs');
    user = await createUser(undefined);
  });

  it('introspection reports an active token with its scope, client and patient; bad tokens are {"active":false}', async () => {
    const t = await login({ clientId: app.clientId, scope: 'launch/patient patient/*.rs offline_access', user, pick: patient });
    const ok = await introspect(t.access_token);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ active: true, client_id: app.clientId, scope: 'patient/*.rs', patient });
    expect((await introspect('not-a-token')).body).toEqual({ active: false });
    const cc = await introspect(systemToken());
    expect(cc.body).toMatchObject({ active: true, client_id: BOOT.id });
  });

  it('a revoked access token is refused at once', async () => {
    const t = await login({ clientId: app.clientId, scope: 'launch/patient patient/*.rs', user, pick: patient });
    expect((await http('GET', `Patient/${patient}`, undefined, bearer(t.access_token))).status).toBe(200);
    expect(await revoke(t.access_token, { client_id: app.clientId, token_type_hint: 'access_token' })).toBe(200);
    const after = await http('GET', `Patient/${patient}`, undefined, bearer(t.access_token));
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/invalid_token/);
    expect((await introspect(t.access_token)).body).toEqual({ active: false });
  });

  it('revoking the refresh token ends the grant: its access tokens stop working', async () => {
    const t = await login({ clientId: app.clientId, scope: 'launch/patient patient/*.rs offline_access', user, pick: patient });
    expect((await http('GET', `Patient/${patient}`, undefined, bearer(t.access_token))).status).toBe(200);
    expect(await revoke(t.refresh_token, { client_id: app.clientId, token_type_hint: 'refresh_token' })).toBe(200);
    expect((await http('GET', `Patient/${patient}`, undefined, bearer(t.access_token))).status).toBe(401);
    const refresh = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: app.clientId });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('a client_credentials token can be revoked by its client', async () => {
    const res = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, BOOT);
    expect((await http('GET', 'Patient?_count=1', undefined, bearer(res.body.access_token))).status).toBe(200);
    expect(await revoke(res.body.access_token, {}, BOOT)).toBe(200);
    expect((await http('GET', 'Patient?_count=1', undefined, bearer(res.body.access_token))).status).toBe(401);
  });
});

describe('admin API and dynamic registration', () => {
  it('needs a full system token', async () => {
    expect((await admin('GET', 'clients', undefined, 'bogus')).status).toBe(401);
    const narrow = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, BOOT);
    expect((await admin('GET', 'clients', undefined, narrow.body.access_token)).status).toBe(403);
    const list = await admin('GET', 'clients');
    expect(list.status).toBe(200);
    expect(list.body.some((c: any) => c.client_id === BOOT.id && c.client_secret === undefined)).toBe(true);
  });

  it('refuses bad registrations with 400', async () => {
    expect((await admin('POST', 'clients', { type: 'public', scope: 'patient/*.rs' })).status).toBe(400); // no redirect URI
    expect((await admin('POST', 'clients', { type: 'confidential-asymmetric', scope: 'system/*.rs' })).status).toBe(400); // no keys
    expect((await admin('POST', 'users', { username: 'x', password: 'short' })).status).toBe(400);
  });

  it('deleting a client ends its tokens', async () => {
    const res = await admin('POST', 'clients', { type: 'confidential-symmetric', scope: 'system/Patient.rs', grantTypes: ['client_credentials'] });
    const t = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: res.body.client_id, secret: res.body.client_secret });
    expect((await http('GET', 'Patient?_count=1', undefined, bearer(t.body.access_token))).status).toBe(200);
    expect((await admin('DELETE', `clients/${res.body.client_id}`)).status).toBe(200);
    expect((await http('GET', 'Patient?_count=1', undefined, bearer(t.body.access_token))).status).toBe(401);
  });

  it('dynamic registration (RFC 7591) gives a public client at most the default scopes, never system/ or trust', async () => {
    const reg = await fetch(`${authBase()}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid launch/patient patient/*.rs system/*.*' }),
    });
    expect(reg.status, await reg.clone().text()).toBe(201);
    const client: any = await reg.json();
    const sneaky = await fetch(`${authBase()}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', hub_admin_registered: true, hub_scope: 'system/*.*' }),
    });
    expect(sneaky.status).toBe(400);
    const p = await createPatient('Registered');
    const u = await createUser(undefined);
    const t = await login({ clientId: client.client_id, scope: 'launch/patient patient/*.rs patient/*.cruds', user: u, pick: p });
    expect(t.scope.split(' ').sort()).toEqual(['launch/patient', 'patient/*.rs']);
    void hubUrl;
  });
});
