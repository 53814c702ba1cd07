import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import { R4Definitions } from './fhir/definitions/r4-definitions.js';
import { loadHubConfig, type HubConfig } from './modules/config/hub-config.js';
import { createHubLogger, flushLogs, NestPinoLogger } from './modules/logging/logger.js';
import { registerBodyReader } from './fhir/rest/http-body.js';
import { toFhirError } from './fhir/rest/errors.js';
import { renderError } from './fhir/rest/fhir-response.js';
import { mountAuthorization } from './modules/auth/auth-routes.js';

/** Whatever escapes a handler (unknown routes, body-size errors) still answers with an OperationOutcome. */
@Catch()
class OperationOutcomeFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}
  catch(exception: unknown, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const err = toFhirError(exception);
    if (err.status >= 500) this.log.error({ err: exception }, 'unhandled error');
    renderError(reply, err, { mediaType: 'application/fhir+json', pretty: false });
  }
}

export interface Hub {
  app: NestFastifyApplication;
  config: HubConfig;
  log: Logger;
  /** Base URL the hub listens on (FHIR base is `${url}/fhir`). */
  url: string;
  close(): Promise<void>;
}

/** Builds and starts the hub: database (embedded unless DATABASE_URL), migrations, HTTP server. */
export async function startHub(overrides: Partial<HubConfig> = {}, opts: { log?: Logger } = {}): Promise<Hub> {
  const config = loadHubConfig(overrides);
  const log = opts.log ?? createHubLogger(config.logLevel);
  await R4Definitions.preload();
  const adapter = new FastifyAdapter({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req: import('node:http').IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: Math.max(config.bodyLimit, config.bundleBodyLimit),
    return503OnClosing: true,
    // errors Fastify raises before routing (e.g. malformed percent-encoding in the path) are FHIR errors too
    frameworkErrors: (err: Error, _req: unknown, reply: FastifyReply) => renderError(reply, toFhirError(err), { mediaType: 'application/fhir+json', pretty: false }),
    forceCloseConnections: 'idle',
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, log), adapter, {
    bodyParser: false,
    logger: new NestPinoLogger(log),
  });
  const fastify = app.getHttpAdapter().getInstance();
  registerBodyReader(fastify, config);
  // one structured line per request, with its request id (every line logged during the request carries it too)
  fastify.addHook('onResponse', (req, reply, done) => {
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    done();
  });
  // A request still running when shutdown begins keeps its keep-alive connection, which server.close() would then
  // wait for until the keep-alive timeout (72 s): its response closes the connection instead.
  let closing = false;
  fastify.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  const close = () => {
    closing = true;
    return app.close();
  };
  app.useGlobalFilters(new OperationOutcomeFilter(log));
  const authorization = mountAuthorization(app);
  let port = config.port;
  try {
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address();
    port = typeof address === 'object' && address ? address.port : config.port;
    if (config.port === 0) {
      // the FHIR base follows the real port when an ephemeral one was asked for (tests)
      config.fhirBaseUrl = config.fhirBaseUrl.replace(/:0\/fhir$/, `:${port}/fhir`);
    }
    // the issuer is the public URL, known only now when the port was ephemeral
    await authorization.start();
  } catch (e) {
    await close().catch(() => undefined); // stops the embedded database too
    throw e;
  }
  log.info({ port, fhirBase: config.fhirBaseUrl }, 'hub listening');
  flushLogs();
  return { app, config, log, url: `http://localhost:${port}`, close };
}
