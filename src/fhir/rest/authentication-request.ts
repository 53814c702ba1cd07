import type { FastifyRequest } from 'fastify';
import type { AuthenticationRequest } from '../pipeline/principal.js';

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * What every HTTP door (REST, GraphQL, bulk data) hands the RequestAuthenticator: the bearer token and the declared
 * purpose of use (X-Purpose-Of-Use; repeated headers arrive joined by commas), read here once so all doors agree.
 */
export function authenticationRequest(req: FastifyRequest, path: string): AuthenticationRequest {
  return { authorization: header(req, 'authorization'), purposeOfUse: header(req, 'x-purpose-of-use'), address: req.ip, path, method: req.method };
}
