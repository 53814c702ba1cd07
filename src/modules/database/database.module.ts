import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { HUB_LOGGER } from '../logging/logger.js';
import type { Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.js';
import { MIGRATIONS } from './migrations/index.js';
import { Db } from './db.js';

/** Holds what must be closed on shutdown, in order: the pool, then the embedded server. */
export class DatabaseLifecycle {
  constructor(
    readonly dataSource: DataSource,
    readonly embedded: EmbeddedServer | undefined,
  ) {}
}

export async function openDatabase(config: HubConfig, log: Logger): Promise<DatabaseLifecycle> {
  let embedded: EmbeddedServer | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, log);
    url = embedded.url;
  }
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: { max: config.dbPoolSize },
  });
  try {
    await dataSource.initialize();
    const ran = await dataSource.runMigrations();
    if (ran.length) log.info({ migrations: ran.map((m) => m.name) }, 'migrations applied');
  } catch (e) {
    await dataSource.destroy().catch(() => undefined);
    await embedded?.stop();
    throw e;
  }
  return new DatabaseLifecycle(dataSource, embedded);
}

@Global()
@Module({
  providers: [
    {
      provide: DatabaseLifecycle,
      inject: [HUB_CONFIG, HUB_LOGGER],
      useFactory: (config: HubConfig, log: Logger) => openDatabase(config, log),
    },
    {
      provide: Db,
      inject: [DatabaseLifecycle],
      useFactory: (lc: DatabaseLifecycle) => new Db((lc.dataSource.driver as unknown as { master: Pool }).master),
    },
  ],
  exports: [Db, DatabaseLifecycle],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(
    @Inject(DatabaseLifecycle) private readonly lc: DatabaseLifecycle,
    @Inject(HUB_LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.lc.dataSource.destroy().catch((e) => this.log.warn({ err: e }, 'closing the pool failed'));
    if (this.lc.embedded) {
      await this.lc.embedded.stop();
      this.log.info('embedded PostgreSQL stopped');
    }
  }
}
