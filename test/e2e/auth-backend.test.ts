import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import jose from 'node-jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { admin, authBase, bearer, createPatient, token } from './auth-support.js';

/** SMART Backend Services: client_credentials with a private_key_jwt assertion signed by node-jose. */

const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function keyPair(kty: 'RSA' | 'EC', alg: string) {
  const store = jose.JWK.createKeyStore();
  const key = kty === 'RSA' ? await store.generate('RSA', 2048, { alg, use: 'sig', kid: randomUUID() }) : await store.generate('EC', 'P-384', { alg, use: 'sig', kid: randomUUID() });
  return { key, jwks: store.toJSON() as { keys: unknown[] } };
}

async function sign(key: jose.JWK.Key, alg: string, claims: Record<string, unknown>): Promise<string> {
  return (await jose.JWS.createSign({ format: 'compact', fields: { alg, typ: 'JWT', kid: key.kid } }, key).update(JSON.stringify(claims)).final()) as unknown as string;
}

const claimsFor = (clientId: string, extra: Record<string, unknown> = {}) => ({ iss: clientId, sub: clientId, aud: `${authBase()}/token`, exp: now() + 240, jti: randomUUID(), ...extra });

async function register(scope: string, keys: { jwks?: unknown; jwksUri?: string }): Promise<string> {
  const res = await admin('POST', 'clients', { type: 'confidential-asymmetric', scope, ...keys, name: 'backend' });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body.client_id;
}

const grant = (assertion: string, scope: string) =>
  token({ grant_type: 'client_credentials', scope, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });

let patient: string;
let jwksServer: Server;
let jwksUrl: string;
let served: { keys: unknown[] } = { keys: [] };

beforeAll(async () => {
  patient = await createPatient('Backend');
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(served));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as any).port}/jwks.json`;
});
afterAll(() => new Promise<void>((r) => jwksServer.close(() => r())));

describe('client_credentials with private_key_jwt', () => {
  for (const [kty, alg] of [['RSA', 'RS384'], ['EC', 'ES384']] as const) {
    it(`${alg}: a signed assertion gets a system token that reads data`, async () => {
      const { key, jwks } = await keyPair(kty, alg);
      const clientId = await register('system/Patient.rs system/Observation.rs', { jwks });
      const res = await grant(await sign(key, alg, claimsFor(clientId)), 'system/Patient.rs');
      expect(res.status).toBe(200);
      expect(res.body.token_type).toBe('Bearer');
      expect(res.body.scope).toBe('system/Patient.rs');
      expect(res.body.expires_in).toBeGreaterThan(0);
      expect(res.headers.get('cache-control')).toContain('no-store');
      expect((await http('GET', `Patient/${patient}`, undefined, bearer(res.body.access_token))).status).toBe(200);
      // the token's scopes decide: no Encounter, no writes
      expect((await http('GET', 'Encounter', undefined, bearer(res.body.access_token))).status).toBe(403);
      const create = await http('POST', 'Patient', { resourceType: 'Patient' }, bearer(res.body.access_token));
      expect(create.status).toBe(403);
      expect(create.body.resourceType).toBe('OperationOutcome');
    });
  }

  it('keys published at a jwks_uri', async () => {
    const { key, jwks } = await keyPair('RSA', 'RS384');
    served = jwks;
    const clientId = await register('system/Patient.rs', { jwksUri: jwksUrl });
    const res = await grant(await sign(key, 'RS384', claimsFor(clientId)), 'system/Patient.rs');
    expect(res.body).toMatchObject({ scope: 'system/Patient.rs' });
  });

  it('scopes beyond the registration are not granted', async () => {
    const { key, jwks } = await keyPair('RSA', 'RS384');
    const clientId = await register('system/Patient.rs', { jwks });
    const some = await grant(await sign(key, 'RS384', claimsFor(clientId)), 'system/Patient.rs system/Observation.rs');
    expect(some.body.scope).toBe('system/Patient.rs');
    const none = await grant(await sign(key, 'RS384', claimsFor(clientId)), 'system/*.rs');
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('invalid_scope');
  });

  describe('refused assertions', () => {
    let key: jose.JWK.Key;
    let clientId: string;
    beforeAll(async () => {
      const pair = await keyPair('RSA', 'RS384');
      key = pair.key;
      clientId = await register('system/Patient.rs', { jwks: pair.jwks });
    });
    const refused = async (assertion: string) => {
      const res = await grant(assertion, 'system/Patient.rs');
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect(res.body.access_token).toBeUndefined();
    };

    it('expired', async () => refused(await sign(key, 'RS384', claimsFor(clientId, { exp: now() - 120 }))));
    it('exp more than 5 minutes ahead', async () => refused(await sign(key, 'RS384', claimsFor(clientId, { exp: now() + 600 }))));
    it('wrong aud', async () => refused(await sign(key, 'RS384', claimsFor(clientId, { aud: 'https://elsewhere.example/token' }))));
    it('iss is another client', async () => refused(await sign(key, 'RS384', claimsFor(clientId, { iss: 'someone-else' }))));
    it('replayed jti', async () => {
      const assertion = await sign(key, 'RS384', claimsFor(clientId));
      expect((await grant(assertion, 'system/Patient.rs')).status).toBe(200);
      await refused(assertion);
    });
    it('unsigned (alg none)', async () => refused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claimsFor(clientId))}.`));
    it('HS256 signed with the public key as the secret', async () => {
      const pem = key.toPEM(false);
      const hmac = await jose.JWK.asKey({ kty: 'oct', k: Buffer.from(pem).toString('base64url'), kid: key.kid, alg: 'HS256' });
      await refused(await sign(hmac, 'HS256', claimsFor(clientId)));
    });
    it('signed by another key', async () => {
      const other = await keyPair('RSA', 'RS384');
      await refused(await sign(other.key, 'RS384', claimsFor(clientId)));
    });
  });
});

describe('client_secret_basic', () => {
  it('a confidential-symmetric client gets a token with its secret, not with a wrong one', async () => {
    const res = await admin('POST', 'clients', { type: 'confidential-symmetric', scope: 'system/Patient.rs', grantTypes: ['client_credentials'] });
    expect(res.status).toBe(201);
    const ok = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: res.body.client_id, secret: res.body.client_secret });
    expect(ok.status).toBe(200);
    const bad = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: res.body.client_id, secret: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('invalid_client');
  });
});
