import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { HUB_LOGGER } from '../logging/logger.js';
import type { Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.js';
import { MIGRATIONS } from './migrations/index.js';
import { Db, GENERIC_PLAN } from './db.js';

/** Holds what must be closed on shutdown, in order: the pools, then the embedded server. */
export class DatabaseLifecycle {
  /** the pool TypeORM opened, and one as large beside it whose connections use generic plans only (`GENERIC_PLAN`) */
  readonly pool: Pool;
  readonly genericPool: Pool;

  constructor(
    readonly dataSource: DataSource,
    readonly embedded: EmbeddedServer | undefined,
  ) {
    this.pool = (dataSource.driver as unknown as { master: Pool }).master;
    const PoolClass = this.pool.constructor as new (options: object) => Pool;
    const options = (this.pool as unknown as { options: Record<string, unknown> }).options;
    // as large as the pool: consent-governed searches anchored on a patient (most of a practitioner's searches) run
    // there, not only the rarer kinds of statement it was first sized for
    this.genericPool = new PoolClass({ ...options, options: `-c ${GENERIC_PLAN}` });
    // an idle connection that fails (the server restarted) is dropped and replaced at the next query; without a
    // listener the error event would end the process
    this.genericPool.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.genericPool.end();
    await this.dataSource.destroy();
  }
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
      useFactory: (lc: DatabaseLifecycle) => new Db(lc.pool, lc.genericPool),
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
    await this.lc.close().catch((e) => this.log.warn({ err: e }, 'closing the pool failed'));
    if (this.lc.embedded) {
      await this.lc.embedded.stop();
      this.log.info('embedded PostgreSQL stopped');
    }
  }
}
