import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../fhir/pipeline/principal.js';
import { ClientRegistry, clientMetadata, type ClientInput } from './client-registry.js';
import { readSmallBody, sendJson } from './http-io.js';
import { checkContext, type LaunchContexts } from './launch-contexts.js';
import { clinicalScopes } from './smart-scopes.js';
import type { UserAccounts } from './user-accounts.js';

export interface AdminDeps {
  clients: ClientRegistry;
  users: UserAccounts;
  contexts: LaunchContexts;
  /** checks a registration the way the provider will when the client is used (throws with the reason) */
  validateClient(metadata: Record<string, unknown>): Promise<void>;
  authenticate(authorization: string | undefined, address: string | undefined): Promise<Principal>;
  clientRemoved(clientId: string): void;
}

/** Full access to every type in system context: what the admin API asks of its caller. */
export function isAdministrator(p: Principal): boolean {
  if (p.kind === 'system' && p.scopes.includes('system/*.*')) return true;
  return clinicalScopes(p.scopes).some((s) => s.context === 'system' && s.resourceType === '*' && !s.query && s.perms.size === 5);
}

/**
 * The admin API under /auth/admin: clients (apps), users, and EHR launch contexts. The caller needs a token with
 * full system access (`system/*.*` or `system/*.cruds`), e.g. the bootstrap client's.
 */
export class AdminApi {
  constructor(private readonly d: AdminDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let principal: Principal;
    try {
      principal = await this.d.authenticate(header(req, 'authorization'), req.socket.remoteAddress);
    } catch (e: any) {
      return sendJson(res, 401, { error: 'invalid_token', error_description: e?.message ?? 'a bearer token is required' }, e?.headers ?? { 'WWW-Authenticate': 'Bearer realm="hub"' });
    }
    if (!isAdministrator(principal)) return sendJson(res, 403, { error: 'insufficient_scope', error_description: 'the admin API needs system/*.* (or system/*.cruds)' });
    const [, , , collection, id] = path.split('/'); // ['', 'auth', 'admin', collection, id]
    const method = req.method ?? 'GET';
    try {
      const body = method === 'POST' ? parseJson(await readSmallBody(req)) : undefined;
      if (collection === 'clients') return await this.clients(res, method, id, body);
      if (collection === 'users') return await this.users(res, method, id, body);
      if (collection === 'launch' && method === 'POST' && !id) {
        const launch = await this.d.contexts.create(checkContext(body));
        return sendJson(res, 201, { launch });
      }
      return sendJson(res, 404, { error: 'not_found', error_description: `no admin endpoint ${method} ${path}` });
    } catch (e: any) {
      if (e?.code === '23505') return sendJson(res, 409, { error: 'conflict', error_description: 'already exists' });
      return sendJson(res, 400, { error: 'invalid_request', error_description: String(e?.message ?? e) });
    }
  }

  private async clients(res: ServerResponse, method: string, id: string | undefined, body: any): Promise<void> {
    if (method === 'GET' && !id) return sendJson(res, 200, await this.d.clients.list());
    if (method === 'GET' && id) {
      const c = await this.d.clients.find(decodeURIComponent(id));
      return c ? sendJson(res, 200, c) : sendJson(res, 404, { error: 'not_found' });
    }
    if (method === 'POST' && !id) {
      const reg = clientMetadata(body as ClientInput);
      await this.d.validateClient(reg.metadata);
      if (await this.d.clients.find(reg.clientId)) return sendJson(res, 409, { error: 'conflict', error_description: `client ${reg.clientId} exists` });
      await this.d.clients.save(reg);
      return sendJson(res, 201, { ...reg.metadata, client_secret: reg.clientSecret });
    }
    if (method === 'DELETE' && id) {
      const clientId = decodeURIComponent(id);
      const removed = await this.d.clients.remove(clientId);
      this.d.clientRemoved(clientId);
      return removed ? sendJson(res, 200, { removed: clientId }) : sendJson(res, 404, { error: 'not_found' });
    }
    return sendJson(res, 405, { error: 'method_not_allowed' });
  }

  private async users(res: ServerResponse, method: string, id: string | undefined, body: any): Promise<void> {
    if (method === 'GET' && !id) return sendJson(res, 200, await this.d.users.list());
    if (method === 'POST' && !id) return sendJson(res, 201, await this.d.users.create(body ?? {}));
    if (method === 'DELETE' && id) {
      return (await this.d.users.remove(decodeURIComponent(id))) ? sendJson(res, 200, { removed: id }) : sendJson(res, 404, { error: 'not_found' });
    }
    return sendJson(res, 405, { error: 'method_not_allowed' });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(text: string): any {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new Error('the body must be JSON');
  }
}
