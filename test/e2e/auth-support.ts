import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { fhirBase, http, systemToken } from '../support/hub.js';

/** Helpers for the SMART authorization tests: admin API, PKCE, and an authorization driven over HTTP with cookies. */

export const hubUrl = (): string => inject('hubUrl');
export const authBase = (): string => `${hubUrl()}/auth`;

export async function admin(method: string, path: string, body?: unknown, token = systemToken()): Promise<{ status: number; body: any }> {
  const res = await fetch(`${authBase()}/admin/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function createPatient(family: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await http('POST', 'Patient', { resourceType: 'Patient', name: [{ family, given: ['Test'] }], birthDate: '1970-01-01', ...extra });
  if (res.status !== 201) throw new Error(`create Patient: ${res.status} ${res.text}`);
  return res.body.id;
}

export async function createUser(fhirUser: string | undefined, password = 'correct horse battery'): Promise<{ username: string; password: string; id: string }> {
  const username = `u-${randomUUID().slice(0, 8)}`;
  const res = await admin('POST', 'users', { username, password, fhirUser, name: username });
  if (res.status !== 201) throw new Error(`create user: ${res.status} ${JSON.stringify(res.body)}`);
  return { username, password, id: res.body.id };
}

export const REDIRECT = 'http://127.0.0.1:9/callback';

export async function createApp(scope: string, opts: { type?: 'public' | 'confidential-symmetric'; redirectUris?: string[] } = {}): Promise<{ clientId: string; secret?: string }> {
  const res = await admin('POST', 'clients', { type: opts.type ?? 'public', redirectUris: opts.redirectUris ?? [REDIRECT], scope, name: 'Test app' });
  if (res.status !== 201) throw new Error(`create client: ${res.status} ${JSON.stringify(res.body)}`);
  return { clientId: res.body.client_id, secret: res.body.client_secret };
}

/**
 * A backend service (client_credentials, client_secret_basic) and a token of it; `registration` adds to what the
 * admin API is given (organization, purposeOfUse, defaultPurposeOfUse, ...).
 */
export async function backendService(scope: string, registration: Record<string, unknown> = {}): Promise<{ clientId: string; secret: string; headers: Record<string, string> }> {
  const res = await admin('POST', 'clients', { type: 'confidential-symmetric', grantTypes: ['client_credentials'], scope, name: 'Test service', ...registration });
  if (res.status !== 201) throw new Error(`create client: ${res.status} ${JSON.stringify(res.body)}`);
  const t = await token({ grant_type: 'client_credentials', scope }, { id: res.body.client_id, secret: res.body.client_secret });
  if (t.status !== 200) throw new Error(`token: ${t.status} ${JSON.stringify(t.body)}`);
  return { clientId: res.body.client_id, secret: res.body.client_secret, headers: bearer(t.body.access_token) };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A minimal cookie jar for fetch (the interaction cookies of oidc-provider). */
export class Browser {
  private readonly cookies = new Map<string, string>();

  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects within the hub; stops at the first location outside it (the app's redirect_uri). */
  async follow(res: Response): Promise<{ res: Response; url: string }> {
    let current = res;
    let url = '';
    for (let i = 0; i < 10 && current.status >= 300 && current.status < 400; i++) {
      const loc = new URL(current.headers.get('location')!, hubUrl()).href;
      url = loc;
      if (!loc.startsWith(hubUrl())) return { res: current, url: loc };
      current = await this.go(loc);
    }
    return { res: current, url };
  }

  post(url: string, form: Record<string, string>): Promise<Response> {
    return this.go(new URL(url, hubUrl()).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  }
}

export interface AuthorizeOptions {
  clientId: string;
  scope: string;
  user: { username: string; password: string };
  redirectUri?: string;
  aud?: string;
  launch?: string;
  /** patient id to pick on the approval page (standalone launch by a practitioner) */
  pick?: string;
  challenge?: string | null;
  challengeMethod?: string;
  /** stop before approving and return the approval page */
  deny?: boolean;
}

export function authorizeUrl(o: Omit<AuthorizeOptions, 'user'>, state: string): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: o.clientId,
    redirect_uri: o.redirectUri ?? REDIRECT,
    scope: o.scope,
    state,
    aud: o.aud ?? fhirBase(),
  });
  if (o.challenge !== null) {
    params.set('code_challenge', o.challenge ?? pkce().challenge);
    params.set('code_challenge_method', o.challengeMethod ?? 'S256');
  }
  if (o.launch) params.set('launch', o.launch);
  return `${authBase()}/auth?${params}`;
}

/** Drives the login and approval pages; returns where the hub finally sent the browser (the redirect_uri with code or error). */
export async function authorize(o: AuthorizeOptions): Promise<{ redirect: URL; consentPage?: string }> {
  const b = new Browser();
  const state = randomUUID();
  let { res, url } = await b.follow(await b.go(authorizeUrl(o, state)));
  if (!url.includes('/auth/interaction/')) return { redirect: new URL(url) };
  let uid = /\/auth\/interaction\/([\w-]+)/.exec(url)![1];
  const loginPage = await res.text();
  if (!loginPage.includes('name="password"')) throw new Error(`expected the login page, got ${res.status}: ${loginPage.slice(0, 300)}`);
  ({ res, url } = await b.follow(await b.post(`/auth/interaction/${uid}/login`, { username: o.user.username, password: o.user.password })));
  if (!url.includes('/auth/interaction/')) return { redirect: new URL(url) };
  uid = /\/auth\/interaction\/([\w-]+)/.exec(url)![1]; // the approval is a new interaction
  const consentPage = await res.text();
  if (o.deny) {
    ({ url } = await b.follow(await b.post(`/auth/interaction/${uid}/abort`, {})));
    return { redirect: new URL(url), consentPage };
  }
  ({ res, url } = await b.follow(await b.post(`/auth/interaction/${uid}/confirm`, o.pick ? { patient: o.pick } : {})));
  if (!url || url.startsWith(hubUrl())) throw new Error(`approval did not finish: ${res.status} ${(await res.text()).slice(0, 300)}`);
  const redirect = new URL(url);
  if (redirect.searchParams.get('state') !== state && !redirect.searchParams.get('error')) throw new Error('state was not returned');
  return { redirect, consentPage };
}

export async function token(form: Record<string, string>, basic?: { id: string; secret: string }): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${authBase()}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basic ? { authorization: `Basic ${Buffer.from(`${basic.id}:${basic.secret}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Authorization code + PKCE, end to end: the token response. */
export async function login(o: Omit<AuthorizeOptions, 'challenge'>): Promise<any> {
  const { verifier, challenge } = pkce();
  const { redirect } = await authorize({ ...o, challenge });
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code: ${redirect}`);
  const res = await token({ grant_type: 'authorization_code', code, redirect_uri: o.redirectUri ?? REDIRECT, client_id: o.clientId, code_verifier: verifier });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
