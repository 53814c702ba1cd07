import type { FastifyRequest } from 'fastify';
import { DEVELOPMENT_PRINCIPAL, type Principal, type RequestAuthenticator } from '../../fhir/pipeline/principal.js';
import { authenticationRequest } from '../../fhir/rest/authentication-request.js';

/**
 * Who sends a GraphQL request: THE place where authentication plugs in. It builds the Principal exactly as the REST
 * door does for the same request (bearer token and declared purpose of use → Principal, with the REST door's
 * RequestAuthenticator), so that scopes, the patient compartment and consent apply to GraphQL as to REST. Without an
 * authenticator: the development principal, as the REST door.
 */
export async function graphqlPrincipal(req: FastifyRequest, path: string, authenticator?: RequestAuthenticator): Promise<Principal> {
  if (!authenticator) return { ...DEVELOPMENT_PRINCIPAL, address: req.ip };
  return authenticator.authenticate(authenticationRequest(req, path));
}
