import { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';

export const HUB_LOGGER = Symbol('HUB_LOGGER');

export function createHubLogger(level: string): Logger {
  return pino({ level, base: { service: 'hie-hub' }, timestamp: pino.stdTimeFunctions.isoTime });
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
