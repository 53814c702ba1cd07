import { DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { ConfigModule } from './modules/config/config.module.js';
import type { HubConfig } from './modules/config/hub-config.js';
import { DatabaseModule } from './modules/database/database.module.js';
import { LoggingModule } from './modules/logging/logging.module.js';
import { FhirModule } from './fhir/fhir.module.js';
import { AuditModule } from './audit/audit.module.js';
import { MpiModule } from './mpi/mpi.module.js';
import { AuthModule } from './modules/auth/auth.module.js';
import { ConsentModule } from './consent/consent.module.js';
import { GraphqlModule } from './modules/graphql/graphql.module.js';
import { BulkModule } from './modules/bulk/bulk.module.js';

@Module({})
export class AppModule {
  static forRoot(config: HubConfig, log: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), LoggingModule.forRoot(log), DatabaseModule, FhirModule, AuthModule, AuditModule, MpiModule, ConsentModule, GraphqlModule, BulkModule],
    };
  }
}
