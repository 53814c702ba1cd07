import { DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { HUB_LOGGER } from './logger.js';

@Global()
@Module({})
export class LoggingModule {
  static forRoot(log: Logger): DynamicModule {
    return { module: LoggingModule, providers: [{ provide: HUB_LOGGER, useValue: log }], exports: [HUB_LOGGER] };
  }
}
