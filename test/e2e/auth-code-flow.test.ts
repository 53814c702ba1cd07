import { createRemoteJWKSet, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirBase, http } from '../support/hub.js';
import { admin, authBase, authorize, authorizeUrl, bearer, Browser, createApp, createPatient, createUser, login, pkce, REDIRECT, token } from './auth-support.js';

/** SMART App Launch: authorization code with PKCE S256, standalone and EHR launch, refresh, id_token. */

let patientA: string;
let patientB: string;
let encounterA: string;
let practitioner: { username: string; password: string; id: string };
let patientUser: { username: string; password: string; id: string };
let app: { clientId: string };

beforeAll(async () => {
  patientA = await createPatient('Alpha');
  patientB = await createPatient('Beta');
  const enc = await http('POST', 'Encounter', { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${patientA}` } });
  encounterA = enc.body.id;
  const prac = await http('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Doctor' }] });
  practitioner = await createUser(`Practitioner/${prac.body.id}`);
  patientUser = await createUser(`Patient/${patientA}`);
  app = await createApp('openid fhirUser profile launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds');
});

describe('standalone launch', () => {
  it('a practitioner picks the patient; the token carries scope, patient, banner, style, and no-store', async () => {
    const { verifier, challenge } = pkce();
    const { redirect, consentPage } = await authorize({ clientId: app.clientId, scope: 'launch/patient openid fhirUser patient/*.rs offline_access', user: practitioner, pick: patientB, challenge });
    expect(consentPage).toContain('patient/*.rs');
    expect(consentPage).toContain(`value="${patientB}"`); // the picker lists patients
    const code = redirect.searchParams.get('code')!;
    const res = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: app.clientId, code_verifier: verifier });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('no-store');
    const t = res.body;
    expect(t.token_type).toBe('Bearer');
    expect(t.scope.split(' ').sort()).toEqual(['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/*.rs']);
    expect(t.patient).toBe(patientB);
    expect(t.need_patient_banner).toBe(true);
    expect(t.smart_style_url).toMatch(/^http.*smart-style\.json$/);
    expect(t.refresh_token).toBeTruthy();
    // id_token: RS256, signed with the issuer's JWKS, with fhirUser
    const jwks = createRemoteJWKSet(new URL(`${authBase()}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(t.id_token, jwks, { issuer: authBase(), audience: app.clientId });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.fhirUser).toMatch(new RegExp(`/fhir/Practitioner/`));
    // the token reads the picked patient
    const read = await http('GET', `Patient/${patientB}`, undefined, bearer(t.access_token));
    expect(read.status).toBe(200);
  });

  it('a patient user gets their own record without a picker', async () => {
    const { redirect, consentPage } = await authorize({ clientId: app.clientId, scope: 'launch/patient openid fhirUser patient/*.rs user/*.rs', user: patientUser, challenge: pkce().challenge });
    expect(redirect.searchParams.get('code')).toBeTruthy();
    expect(consentPage).not.toContain('name="patient"');
    const t = await login({ clientId: app.clientId, scope: 'launch/patient openid fhirUser patient/*.rs user/*.rs', user: patientUser });
    expect(t.patient).toBe(patientA);
    // user/ scopes are never granted to a patient (they would reach other patients)
    expect(t.scope.split(' ')).not.toContain('user/*.rs');
    expect((await http('GET', `Patient/${patientA}`, undefined, bearer(t.access_token))).status).toBe(200);
    expect((await http('GET', `Patient/${patientB}`, undefined, bearer(t.access_token))).status).toBe(404);
  });

  it('denying the approval sends access_denied to the app', async () => {
    const { redirect } = await authorize({ clientId: app.clientId, scope: 'openid patient/*.rs launch/patient', user: patientUser, deny: true });
    expect(redirect.searchParams.get('error')).toBe('access_denied');
  });

  it('a wrong password shows the login page again with 401', async () => {
    const b = new Browser();
    const { url } = await b.follow(await b.go(authorizeUrl({ clientId: app.clientId, scope: 'openid patient/*.rs' }, 'st')));
    const uid = /\/auth\/interaction\/([\w-]+)/.exec(url)![1];
    const res = await b.post(`/auth/interaction/${uid}/login`, { username: patientUser.username, password: 'wrong password' });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Wrong username or password');
  });
});

describe('EHR launch', () => {
  it('binds the launch parameter to the context the EHR created', async () => {
    const created = await admin('POST', 'launch', { patient: patientA, encounter: encounterA, needPatientBanner: false });
    expect(created.status).toBe(201);
    const t = await login({ clientId: app.clientId, scope: 'launch openid fhirUser patient/*.rs', user: practitioner, launch: created.body.launch });
    expect(t.patient).toBe(patientA);
    expect(t.encounter).toBe(encounterA);
    expect(t.need_patient_banner).toBe(false);
    expect(t.scope.split(' ')).toContain('launch');
  });

  it('refuses an unknown launch value', async () => {
    const { redirect } = await authorize({ clientId: app.clientId, scope: 'launch openid patient/*.rs', user: practitioner, launch: 'no-such-launch' });
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
  });
});

describe('refresh tokens', () => {
  it('refresh keeps the context and never widens the scopes', async () => {
    const t = await login({ clientId: app.clientId, scope: 'launch/patient openid patient/Patient.rs offline_access', user: practitioner, pick: patientA });
    const narrower = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: app.clientId, scope: 'patient/Patient.rs' });
    expect(narrower.body).toMatchObject({ scope: 'patient/Patient.rs' });
    expect(narrower.body.scope).toBe('patient/Patient.rs');
    expect(narrower.body.patient).toBe(patientA);
    const rt = narrower.body.refresh_token ?? t.refresh_token;
    const wider = await token({ grant_type: 'refresh_token', refresh_token: rt, client_id: app.clientId, scope: 'patient/Patient.rs patient/Observation.rs' });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    const widerUser = await token({ grant_type: 'refresh_token', refresh_token: rt, client_id: app.clientId, scope: 'user/*.cruds' });
    expect(widerUser.status).toBe(400);
  });

  it('online_access also gives a refresh token', async () => {
    const t = await login({ clientId: app.clientId, scope: 'launch/patient patient/Patient.rs online_access', user: practitioner, pick: patientA });
    expect(t.refresh_token).toBeTruthy();
  });
});

describe('PKCE, audience, redirect and client checks', () => {
  const scope = 'launch/patient patient/Patient.rs';

  it('PKCE is required: an authorization request without code_challenge is refused', async () => {
    const { redirect } = await authorize({ clientId: app.clientId, scope, user: practitioner, challenge: null });
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
    expect(redirect.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('plain PKCE is refused', async () => {
    const { redirect } = await authorize({ clientId: app.clientId, scope, user: practitioner, challenge: 'a'.repeat(43), challengeMethod: 'plain' });
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
  });

  it('a wrong code_verifier or none at the token endpoint is invalid_grant', async () => {
    const { challenge } = pkce();
    for (const verifier of [pkce().verifier, undefined]) {
      const { redirect } = await authorize({ clientId: app.clientId, scope, user: practitioner, pick: patientA, challenge });
      const form: Record<string, string> = { grant_type: 'authorization_code', code: redirect.searchParams.get('code')!, redirect_uri: REDIRECT, client_id: app.clientId };
      if (verifier) form.code_verifier = verifier;
      const res = await token(form);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
    }
  });

  it('a wrong aud is refused', async () => {
    const { redirect } = await authorize({ clientId: app.clientId, scope, user: practitioner, aud: 'https://elsewhere.example/fhir' });
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
    expect(redirect.searchParams.get('error_description')).toMatch(/aud/);
  });

  it('an unregistered redirect_uri is refused without redirecting to it', async () => {
    const res = await fetch(
      `${authBase()}/auth?${new URLSearchParams({ response_type: 'code', client_id: app.clientId, redirect_uri: 'https://evil.example/cb', scope, state: 's', aud: fhirBase(), code_challenge: pkce().challenge, code_challenge_method: 'S256' })}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('the code is bound to its redirect_uri', async () => {
    const other = await createApp(scope, { redirectUris: [REDIRECT, 'http://127.0.0.1:9/other'] });
    const { verifier, challenge } = pkce();
    const { redirect } = await authorize({ clientId: other.clientId, scope, user: practitioner, pick: patientA, challenge });
    const res = await token({ grant_type: 'authorization_code', code: redirect.searchParams.get('code')!, redirect_uri: 'http://127.0.0.1:9/other', client_id: other.clientId, code_verifier: verifier });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('an unknown client is refused', async () => {
    const res = await fetch(`${authBase()}/auth?${new URLSearchParams({ response_type: 'code', client_id: 'nobody', redirect_uri: REDIRECT, scope, aud: fhirBase() })}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/invalid_client/);
    const t = await token({ grant_type: 'client_credentials', scope: 'system/*.rs' }, { id: 'nobody', secret: 'nothing' });
    expect(t.status).toBe(401);
    expect(t.body.error).toBe('invalid_client');
  });
});
