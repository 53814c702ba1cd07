import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import Provider from 'oidc-provider';
import providerContext from 'oidc-provider/lib/helpers/als.js';
import type { Logger } from 'pino';
import { SEARCH_ENGINE, type SearchEngine } from '../../fhir/search/search-engine.js';
import { DEVELOPMENT_PRINCIPAL, type AuthenticationRequest, type Principal, type RequestAuthenticator } from '../../fhir/pipeline/principal.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { Db } from '../database/db.js';
import { HUB_LOGGER } from '../logging/logger.js';
import { AdminApi } from './admin-api.js';
import { AuthEvents } from './auth-events.js';
import { ClientRegistry, clientMetadata } from './client-registry.js';
import { sendJson } from './http-io.js';
import { InteractionPages } from './interaction-pages.js';
import { LaunchContexts } from './launch-contexts.js';
import { sweepExpired } from './pg-oidc-adapter.js';
import { providerConfiguration } from './provider-config.js';
import { ANY_PURPOSE, withPurposes } from './purpose-of-use.js';
import { loadProviderKeys } from './signing-keys.js';
import { parseClinicalScope } from './smart-scopes.js';
import { authEndpoints, type AuthEndpoints } from './smart-discovery.js';
import { TokenPrincipals } from './token-principals.js';
import { UserAccounts } from './user-accounts.js';

const SWEEP_MS = 10 * 60_000;

/**
 * The SMART authorization server (oidc-provider) inside the hub, and the authenticator of the FHIR door. It is
 * started once the public URL is known (after listen: tests use an ephemeral port); until then /auth answers 503.
 */
@Injectable()
export class AuthorizationServer implements RequestAuthenticator, OnApplicationShutdown {
  readonly users: UserAccounts;
  readonly clients: ClientRegistry;
  readonly contexts: LaunchContexts;
  readonly tokens: TokenPrincipals;
  private provider?: Provider;
  private callback?: (req: IncomingMessage, res: ServerResponse) => unknown;
  private pages?: InteractionPages;
  private admin?: AdminApi;
  private sweeper?: NodeJS.Timeout;
  endpoints?: AuthEndpoints;

  constructor(
    private readonly db: Db,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(HUB_LOGGER) private readonly log: Logger,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
    readonly events: AuthEvents,
  ) {
    this.users = new UserAccounts(db);
    this.clients = new ClientRegistry(db);
    this.contexts = new LaunchContexts(db);
    this.tokens = new TokenPrincipals(this.users, this.clients, 'hub');
  }

  get publicBase(): string {
    return this.config.fhirBaseUrl.replace(/\/fhir\/?$/, '');
  }

  async start(): Promise<void> {
    const endpoints = authEndpoints(this.publicBase);
    const keys = await loadProviderKeys(this.db);
    const provider = new Provider(
      endpoints.issuer,
      providerConfiguration({ db: this.db, keys, users: this.users, contexts: this.contexts, fhirBaseUrl: this.config.fhirBaseUrl, tokens: this.tokens }),
    );
    provider.proxy = true; // X-Forwarded-* from a reverse proxy in front of the hub
    provider.on('grant.success', (ctx) =>
      this.events.emit({ type: 'token-issued', clientId: ctx.oidc.client?.clientId, user: (ctx.oidc.entities as any).Account?.accountId, grantType: String(ctx.oidc.params?.grant_type ?? ''), address: ctx.ip, outcome: 'success' }),
    );
    provider.on('grant.error', (ctx, err: any) =>
      this.events.emit({ type: 'token-failed', clientId: ctx.oidc?.client?.clientId, grantType: String(ctx.oidc?.params?.grant_type ?? ''), address: ctx.ip, outcome: 'failure', error: `${err?.error ?? 'error'}: ${err?.error_description ?? err?.message ?? ''}` }),
    );
    provider.use((ctx, next) => this.smartTokenResponse(ctx, next));
    provider.on('server_error', (_ctx, err) => this.log.error({ err }, 'authorization server error'));
    this.tokens.attach(provider);
    this.provider = provider;
    this.callback = provider.callback();
    this.endpoints = endpoints;
    this.pages = new InteractionPages({
      provider,
      users: this.users,
      contexts: this.contexts,
      events: this.events,
      search: this.search,
      db: this.db,
      fhirBaseUrl: this.config.fhirBaseUrl,
      styleUrl: `${endpoints.issuer}/smart-style.json`,
    });
    this.admin = new AdminApi({
      clients: this.clients,
      users: this.users,
      contexts: this.contexts,
      validateClient: async (metadata) => {
        await (provider.Client as any).validate(metadata);
      },
      authenticate: (authorization, address) => this.tokens.principalFor(authorization, address),
      clientRemoved: (clientId) => this.tokens.clientRemoved(clientId),
    });
    await this.registerBootstrapClient();
    this.sweeper = setInterval(() => sweepExpired(this.db).catch((err) => this.log.warn({ err }, 'sweeping expired authorization rows failed')), SWEEP_MS);
    this.sweeper.unref();
    if (!this.config.authEnabled) {
      this.log.warn('!!! HUB_AUTH=off: the FHIR API answers EVERY request with full access and no token. Development only. !!!');
    }
    this.log.info({ issuer: endpoints.issuer, auth: this.config.authEnabled }, 'SMART authorization server ready');
  }

  /**
   * SMART token responses: `scope` lists everything granted (identity and launch scopes too, not only the FHIR
   * server's), and the launch context arrives with the token (patient, encounter, fhirContext, banner, style).
   */
  private async smartTokenResponse(ctx: any, next: () => Promise<unknown>): Promise<void> {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200 || !ctx.body?.access_token) return;
    const { Grant: grant, AccessToken: at, AuthorizationCode: code, RefreshToken: rt } = ctx.oidc.entities ?? {};
    if (!grant || !at) return; // client_credentials: nothing to add
    const asked: Set<string> = ctx.oidc.params?.scope ? new Set(String(ctx.oidc.params.scope).split(' ')) : (code ?? rt)?.scopes ?? new Set();
    const scopes = new Set<string>(String(at.scope ?? '').split(' ').filter(Boolean));
    for (const s of String(grant.getOIDCScope() ?? '').split(' ')) if (s && asked.has(s)) scopes.add(s);
    ctx.body.scope = [...scopes].join(' ');
    const context = await this.contexts.forGrant(grant.jti);
    if (!context) return;
    if (context.patient) ctx.body.patient = context.patient;
    if (context.encounter) ctx.body.encounter = context.encounter;
    if (context.fhirContext) ctx.body.fhirContext = context.fhirContext;
    if (context.needPatientBanner !== undefined) ctx.body.need_patient_banner = context.needPatientBanner;
    if (context.smartStyleUrl) ctx.body.smart_style_url = context.smartStyleUrl;
    if (context.intent) ctx.body.intent = context.intent;
  }

  /** HUB_BOOTSTRAP_CLIENT_ID/SECRET: a confidential backend client with full system access (idempotent). */
  private async registerBootstrapClient(): Promise<void> {
    const { bootstrapClientId: id, bootstrapClientSecret: secret } = this.config;
    if (!id && !secret) return;
    if (!id || !secret) throw new Error('HUB_BOOTSTRAP_CLIENT_ID and HUB_BOOTSTRAP_CLIENT_SECRET must be set together');
    const reg = clientMetadata({ clientId: id, name: 'bootstrap client', type: 'confidential-symmetric', secret, scope: 'system/*.* system/*.cruds', grantTypes: ['client_credentials'] });
    await this.clients.save(reg);
    this.log.info({ clientId: id }, 'bootstrap client registered');
  }

  /** Every request under /auth (raw Node request: oidc-provider reads its own bodies). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/auth';
    const path = url.split('?')[0];
    if (!this.callback) return sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'the authorization server is starting' });
    try {
      if (path.startsWith('/auth/interaction/')) return await this.pages!.handle(req, res, path);
      if (path.startsWith('/auth/admin/')) return await this.admin!.handle(req, res, path);
      if (path === '/auth/smart-style.json') return sendJson(res, 200, SMART_STYLE, { 'Cache-Control': 'public, max-age=3600', 'Access-Control-Allow-Origin': '*' });
      if (path === '/auth/auth') await offlineAccessNeedsConsentPrompt(req);
      if (path === '/auth/reg' && req.method === 'POST') await registrationWithoutClinicalScopes(req);
      const full = req.url ?? url;
      (req as any).originalUrl = full;
      req.url = full.slice('/auth'.length) || '/';
      await this.runProvider(req, res);
    } catch (err) {
      this.log.error({ err }, 'authorization request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.end();
    }
  }

  private running = 0;

  /**
   * Runs oidc-provider on one request. It keeps each request's context in an AsyncLocalStorage, and once one has
   * run, Node 20 tracks every promise of the whole process (async hooks) for as long as it stays enabled — from the
   * first token onwards, every FHIR request paid for it (measured: 1.5 % of the hub's allocations during ingest,
   * more of its time). It is disabled again whenever no authorization request is running (oidc-provider runs the
   * next one in a fresh context), as statement-counter.ts does with its own.
   */
  private async runProvider(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.running++;
    try {
      await this.callback!(req, res);
    } finally {
      if (--this.running === 0) providerContext.disable();
    }
  }

  /** RequestAuthenticator of the doors (REST, GraphQL, bulk data): the token's principal, with this request's purposes of use. */
  authenticate(request: AuthenticationRequest): Principal | Promise<Principal> {
    if (!this.config.authEnabled) {
      // development: no client to limit what is declared
      return withPurposes(request.address ? { ...DEVELOPMENT_PRINCIPAL, address: request.address } : DEVELOPMENT_PRINCIPAL, ANY_PURPOSE, request.purposeOfUse);
    }
    // the CapabilityStatement is public (it says how to authorize)
    if (request.path === 'metadata' && (request.method === 'GET' || request.method === 'HEAD') && !request.authorization) {
      return { kind: 'anonymous', scopes: [], address: request.address };
    }
    return this.tokens.principalFor(request.authorization, request.address, request.purposeOfUse);
  }

  onApplicationShutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }
}

const SMART_STYLE = {
  color_background: '#edeae3',
  color_error: '#9e2d2d',
  color_highlight: '#69b5ce',
  color_modal_backdrop: '',
  color_success: '#498e49',
  color_text: '#303030',
  dim_border_radius: '6px',
  dim_font_size: '13px',
  dim_spacing_size: '20px',
  font_family_body: "Georgia, Times, 'Times New Roman', serif",
  font_family_heading: "'HelveticaNeue-Light', Helvetica, Arial, 'Lucida Grande', sans-serif;",
};

/**
 * oidc-provider validates a registration's `scope` against the scopes it can list, which SMART clinical scopes are
 * not; a self-registered client's clinical ceiling is the hub's default anyway, so they are taken out of `scope`.
 */
async function registrationWithoutClinicalScopes(req: IncomingMessage): Promise<void> {
  if (!/^application\/json/i.test(String(req.headers['content-type'] ?? ''))) return;
  const text = await readLimited(req);
  let out = text;
  try {
    const body = JSON.parse(text);
    if (body && typeof body.scope === 'string') {
      const kept = body.scope.split(' ').filter((s: string) => s && !parseClinicalScope(s));
      if (kept.length) body.scope = kept.join(' ');
      else delete body.scope;
      out = JSON.stringify(body);
    }
  } catch {
    // not JSON: the provider answers invalid_request
  }
  (req as any).body = out;
  req.headers['content-length'] = String(Buffer.byteLength(out));
}

async function readLimited(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 56 * 1024) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * oidc-provider drops `offline_access` unless the request also says `prompt=consent`; the hub always asks for
 * approval anyway, so an authorization request with offline_access gets that prompt added before it is processed.
 */
async function offlineAccessNeedsConsentPrompt(req: IncomingMessage): Promise<void> {
  const fix = (params: URLSearchParams): boolean => {
    const scope = params.get('scope')?.split(' ') ?? [];
    const prompt = params.get('prompt')?.split(' ').filter(Boolean) ?? [];
    if (!scope.includes('offline_access') || prompt.includes('consent') || prompt.includes('none')) return false;
    params.set('prompt', [...prompt, 'consent'].join(' '));
    return true;
  };
  if (req.method === 'GET') {
    const q = (req.url ?? '').indexOf('?');
    if (q < 0) return;
    const params = new URLSearchParams((req.url ?? '').slice(q + 1));
    if (fix(params)) req.url = `${req.url!.slice(0, q)}?${params.toString()}`;
  } else if (req.method === 'POST' && /^application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? ''))) {
    const params = new URLSearchParams(await readLimited(req));
    fix(params);
    const text = params.toString();
    (req as any).body = text; // oidc-provider reads an already-read body from req.body
    req.headers['content-length'] = String(Buffer.byteLength(text));
  }
}
