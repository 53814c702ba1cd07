import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from 'oidc-provider';
import type { Db } from '../database/db.js';
import type { SearchEngine } from '../../fhir/search/search-engine.js';
import type { AuthEvents } from './auth-events.js';
import { readSmallBody, sendHtml } from './http-io.js';
import type { LaunchContexts, SmartContext } from './launch-contexts.js';
import { clientScopeCeiling, escapeHtml as h, TTL } from './provider-config.js';
import { allowedScopes, parseClinicalScope } from './smart-scopes.js';
import type { UserAccount, UserAccounts } from './user-accounts.js';

export interface InteractionDeps {
  provider: Provider;
  users: UserAccounts;
  contexts: LaunchContexts;
  events: AuthEvents;
  search: SearchEngine;
  db: Db;
  fhirBaseUrl: string;
  styleUrl: string;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${h(title)}</title><style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}
label{display:block;margin:.6em 0}input[type=text],input[type=password]{width:100%;padding:.4em}
button{padding:.5em 1.2em;margin-right:.6em}li{margin:.2em 0}.err{color:#a00}</style></head>
<body><h1>${h(title)}</h1>${body}</body></html>`;
}

/** Human words for a scope on the approval page. */
function describeScope(scope: string): string {
  const c = parseClinicalScope(scope);
  if (c) {
    const who = c.context === 'patient' ? "the selected patient's" : c.context === 'user' ? 'any patient you can see:' : 'all';
    const what = c.resourceType === '*' ? 'all data' : `${c.resourceType} resources`;
    const verbs = [...c.perms].map((p) => ({ c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' })[p]).join(', ');
    return `${verbs} ${who} ${what}${c.query ? ` where ${c.query.map(([k, v]) => `${k}=${v}`).join(' and ')}` : ''}`;
  }
  return (
    {
      openid: 'know who you are (OpenID Connect)',
      fhirUser: 'know your FHIR user record',
      profile: 'see your name',
      launch: 'receive the context the EHR launched it with',
      'launch/patient': 'be told which patient is selected',
      'launch/encounter': 'be told which encounter is selected',
      offline_access: 'keep access while you are away (offline)',
      online_access: 'keep access while you are signed in',
    }[scope] ?? scope
  );
}

/**
 * The pages a person sees during an authorization: sign-in, then approval (what the app asks for, and for a
 * practitioner launching standalone with `launch/patient`, the patient picker). Everything a page decides is
 * checked again when its form comes back.
 */
export class InteractionPages {
  constructor(private readonly d: InteractionDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const m = /^\/auth\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(path);
    if (!m) return sendHtml(res, 404, page('Not found', '<p>No such page.</p>'));
    let details;
    try {
      details = await this.d.provider.interactionDetails(req, res);
    } catch {
      return sendHtml(res, 400, page('Session expired', '<p>This sign-in has expired. Start again from the app.</p>'));
    }
    if (details.uid !== m[1]) return sendHtml(res, 400, page('Session expired', '<p>This sign-in does not belong to this browser session.</p>'));
    const action = m[2];
    const form = req.method === 'POST' ? new URLSearchParams(await readSmallBody(req)) : new URLSearchParams(req.url?.split('?')[1] ?? '');
    const address = req.socket.remoteAddress;
    if (action === 'abort' && req.method === 'POST') {
      return this.d.provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user denied the request' }, { mergeWithLastSubmission: false });
    }
    if (details.prompt.name === 'login') {
      if (action === 'login' && req.method === 'POST') {
        const username = form.get('username') ?? '';
        const user = await this.d.users.authenticate(username, form.get('password') ?? '');
        if (!user) {
          this.d.events.emit({ type: 'login-failed', user: username, clientId: String(details.params.client_id), address, outcome: 'failure', error: 'bad credentials' });
          return sendHtml(res, 401, this.loginPage(details.uid, String(details.params.client_id), 'Wrong username or password.'));
        }
        this.d.events.emit({ type: 'login', user: user.id, clientId: String(details.params.client_id), address, outcome: 'success' });
        return this.d.provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
      }
      return sendHtml(res, 200, this.loginPage(details.uid, String(details.params.client_id)));
    }
    // consent
    const accountId = details.session?.accountId;
    const user = accountId ? await this.d.users.find(accountId) : undefined;
    if (!user?.active) return sendHtml(res, 403, page('Not allowed', '<p>Your account is not active.</p>'));
    const client = await this.d.provider.Client.find(String(details.params.client_id));
    if (!client) return sendHtml(res, 400, page('Unknown app', '<p>The app is not registered.</p>'));
    const scopes = this.grantable(String(details.params.scope ?? ''), client, user);
    const launch = details.params.launch ? await this.d.contexts.find(String(details.params.launch)) : undefined;
    const ownPatient = user.fhirUser?.startsWith('Patient/') ? user.fhirUser.slice('Patient/'.length) : undefined;
    const needsPatient = scopes.some((s) => s.startsWith('patient/')) || scopes.includes('launch/patient');
    const pickPatient = needsPatient && !ownPatient && !launch?.patient;
    if (action === 'confirm' && req.method === 'POST') {
      let patient = ownPatient ?? launch?.patient;
      if (pickPatient) {
        const picked = form.get('patient') ?? '';
        if (!ID.test(picked) || !(await this.patientExists(picked))) {
          return sendHtml(res, 400, await this.consentPage(details.uid, client, scopes, pickPatient, form.get('name') ?? '', 'Choose a patient.'));
        }
        patient = picked;
      }
      if (needsPatient && !patient) return sendHtml(res, 400, page('No patient', '<p>This app needs a patient and none is in context.</p>'));
      const context: SmartContext = {
        patient,
        encounter: ownPatient ? undefined : launch?.encounter,
        fhirContext: launch?.fhirContext,
        needPatientBanner: launch?.needPatientBanner ?? !launch,
        smartStyleUrl: launch?.smartStyleUrl ?? this.d.styleUrl,
        intent: launch?.intent,
      };
      const grant = new this.d.provider.Grant({ accountId: user.id, clientId: client.clientId });
      // identity/launch scopes as OIDC scopes; clinical scopes as scopes of the FHIR server (the tokens' audience)
      const clinical = scopes.filter((s) => parseClinicalScope(s));
      const other = scopes.filter((s) => !parseClinicalScope(s));
      if (other.length) grant.addOIDCScope(other.join(' '));
      if (clinical.length) grant.addResourceScope(this.d.fhirBaseUrl, clinical.join(' '));
      // what was asked and not granted is recorded as rejected, or the provider would ask for approval again
      const granted = new Set(scopes);
      const refused = String(details.params.scope ?? '').split(' ').filter((s) => s && !granted.has(s));
      const refusedClinical = refused.filter((s) => parseClinicalScope(s));
      const refusedOther = refused.filter((s) => !parseClinicalScope(s));
      if (refusedClinical.length) grant.rejectResourceScope(this.d.fhirBaseUrl, refusedClinical.join(' '));
      if (refusedOther.length) grant.rejectOIDCScope(refusedOther.join(' '));
      const grantId = await grant.save();
      await this.d.contexts.bindGrant(grantId, context, TTL.grant);
      return this.d.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return sendHtml(res, 200, await this.consentPage(details.uid, client, scopes, pickPatient, form.get('name') ?? ''));
  }

  /**
   * What may be granted: the client's ceiling, never system/ scopes through a person, and for a patient user never
   * user/ scopes (those would reach other patients).
   */
  private grantable(requested: string, client: any, user: UserAccount): string[] {
    const isPatient = user.fhirUser?.startsWith('Patient/');
    return allowedScopes(requested.split(' ').filter(Boolean), clientScopeCeiling(client)).filter(
      (s) => !s.startsWith('system/') && !(isPatient && s.startsWith('user/')) && !(s === 'fhirUser' && !user.fhirUser),
    );
  }

  private loginPage(uid: string, clientId: string, error?: string): string {
    return page(
      'Sign in to the HIE hub',
      `<p>The app <b>${h(clientId)}</b> asks you to sign in.</p>${error ? `<p class="err">${h(error)}</p>` : ''}
<form method="post" action="/auth/interaction/${h(uid)}/login">
<label>Username <input type="text" name="username" autocomplete="username" autofocus required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit" id="sign-in">Sign in</button></form>
<form method="post" action="/auth/interaction/${h(uid)}/abort"><button type="submit">Cancel</button></form>`,
    );
  }

  private async consentPage(uid: string, client: any, scopes: string[], pickPatient: boolean, nameFilter: string, error?: string): Promise<string> {
    let picker = '';
    if (pickPatient) {
      const patients = await this.patients(nameFilter);
      picker = `<h2>Choose the patient</h2>
<form method="get" action="/auth/interaction/${h(uid)}"><label>Name <input type="text" name="name" value="${h(nameFilter)}"></label><button type="submit">Find</button></form>
${patients.length ? '' : '<p>No patient found.</p>'}`;
      picker += patients
        .map((p, i) => `<label><input type="radio" name="patient" value="${h(p.id)}" form="approve"${i === 0 ? ' checked' : ''}> ${h(p.label)}</label>`)
        .join('\n');
    }
    return page(
      'Authorize app',
      `<p><b>${h(String(client.clientName ?? client.clientId))}</b> asks to:</p>
<ul>${scopes.map((s) => `<li><code>${h(s)}</code> — ${h(describeScope(s))}</li>`).join('')}</ul>
${error ? `<p class="err">${h(error)}</p>` : ''}${picker}
<form id="approve" method="post" action="/auth/interaction/${h(uid)}/confirm"><button type="submit" id="approve-button">Approve</button></form>
<form method="post" action="/auth/interaction/${h(uid)}/abort"><button type="submit" id="deny-button">Deny</button></form>`,
    );
  }

  private async patients(name: string): Promise<{ id: string; label: string }[]> {
    const params: [string, string][] = [['_count', '50'], ['_sort', 'family']];
    if (name.trim()) params.push(['name', name.trim()]);
    const bundle = await this.d.search.search(this.d.db, {
      resourceType: 'Patient',
      params,
      strict: false,
      principal: { kind: 'system', scopes: ['system/Patient.rs'] },
      baseUrl: this.d.fhirBaseUrl,
    });
    return (bundle.entry ?? [])
      .filter((e: any) => e.search?.mode === 'match')
      .map((e: any) => {
        const n = e.resource.name?.[0];
        const label = n ? [n.given?.join(' '), n.family].filter(Boolean).join(' ') || n.text : undefined;
        return { id: e.resource.id, label: `${label ?? 'Patient'} (${e.resource.birthDate ?? 'no birth date'}, id ${e.resource.id})` };
      });
  }

  private async patientExists(id: string): Promise<boolean> {
    const ids = await this.d.search.matchIds(this.d.db, 'Patient', `_id=${encodeURIComponent(id)}`, 1);
    return ids.length === 1;
  }
}
