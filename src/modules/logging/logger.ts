import { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';

export const HUB_LOGGER = Symbol('HUB_LOGGER');

/**
 * JSON lines on stdout, written asynchronously in 4 kB chunks (a synchronous write per request line costs
 * throughput); flushLogs() empties the buffer at shutdown.
 */
const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
// a quiet hub still shows its lines within a second
setInterval(() => destination.flush(), 1000).unref();

export function createHubLogger(level: string): Logger {
  return pino({ level, base: { service: 'hie-hub' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

export function flushLogs(): void {
  try {
    destination.flushSync();
  } catch {
    /* nothing buffered, or stdout already closed */
  }
}

/** Routes Nest's own messages (bootstrap, module wiring) into the same structured log. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pinoLog: Logger) {}
  log(message: unknown, context?: string) {
    this.pinoLog.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.pinoLog.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.pinoLog.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.pinoLog.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.pinoLog.trace({ context }, String(message));
  }
}
