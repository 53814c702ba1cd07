import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CapabilityStatementBuilder } from '../../fhir/capability/capability-statement.js';
import { AuthorizationServer } from './authorization-server.js';
import { SmartCapabilityContributor, smartConfiguration } from './smart-discovery.js';

const EXPOSED = 'Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, X-Request-Id';

/**
 * Puts the authorization server on the HTTP server before it listens: every /auth request goes raw to it (Fastify
 * parses no body there: oidc-provider reads its own), SMART discovery at [FHIR base]/.well-known/smart-configuration,
 * CORS on the FHIR API for browser apps (bearer tokens, no cookies: any origin), and the CapabilityStatement's
 * security block.
 */
export function mountAuthorization(app: NestFastifyApplication): AuthorizationServer {
  const server = app.get(AuthorizationServer);
  app.get(CapabilityStatementBuilder).addContributor(new SmartCapabilityContributor(() => server.endpoints));
  const fastify = app.getHttpAdapter().getInstance();
  const raw = (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    reply.hijack();
    void server.handle(req.raw, reply.raw);
    void done;
  };
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
  for (const url of ['/auth', '/auth/*']) fastify.route({ method: [...methods], url, onRequest: raw, handler: async () => undefined });
  fastify.get('/fhir/.well-known/smart-configuration', async (_req, reply) => {
    if (!server.endpoints) return reply.code(503).send({ error: 'temporarily_unavailable' });
    reply.header('Cache-Control', 'public, max-age=300').header('Access-Control-Allow-Origin', '*').type('application/json');
    return smartConfiguration(server.endpoints);
  });
  fastify.addHook('onRequest', (req, reply, done) => {
    if (!req.url.startsWith('/fhir')) return done();
    reply.header('Access-Control-Allow-Origin', '*').header('Access-Control-Expose-Headers', EXPOSED);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      reply
        .code(204)
        .header('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, HEAD')
        .header('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, X-Request-Id, X-Purpose-Of-Use')
        .header('Access-Control-Max-Age', '600')
        .send();
      return;
    }
    done();
  });
  return server;
}
