import { Inject, Injectable, Module, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { Db } from '../database/db.js';
import { HUB_LOGGER } from '../logging/logger.js';
import { CapabilityStatementBuilder } from '../../fhir/capability/capability-statement.js';
import { OperationRegistry } from '../../fhir/engine/operation-registry.js';
import { FhirModule } from '../../fhir/fhir.module.js';
import { FhirPipeline } from '../../fhir/pipeline/pipeline.js';
import { SearchParamRegistry } from '../../fhir/search/params/search-param-registry.js';
import { SEARCH_ENGINE, type SearchEngine } from '../../fhir/search/search-engine.js';
import { SearchModule } from '../../fhir/search/search.module.js';
import { ResourceStore } from '../../fhir/store/resource-store.js';
import { AuditModule } from '../../audit/audit.module.js';
import { AuditTrail } from '../../audit/audit-trail.js';
import { AssociatedProvenance } from './associated-provenance.js';
import { BulkAudit } from './bulk-audit.js';
import { loadBulkConfig, type BulkConfig } from './bulk-config.js';
import { BulkDataController } from './bulk-data.controller.js';
import { BulkJobRunner } from './bulk-job-runner.js';
import { BulkJobStore } from './bulk-job-store.js';
import { BULK_CONFIG } from './bulk-tokens.js';
import { bulkCapabilities } from './bulk-capabilities.js';
import { ExportJobExecutor } from './export-job.js';
import { exportOperation } from './export-operation.js';
import { ImportJobExecutor } from './import-job.js';
import { importOperation } from './import-operation.js';

/** Registers `$export` with the operations and the Bulk Data declarations with the CapabilityStatement. */
@Injectable()
class BulkRegistration implements OnModuleInit {
  constructor(
    private readonly operations: OperationRegistry,
    private readonly capability: CapabilityStatementBuilder,
    private readonly store: ResourceStore,
    private readonly jobs: BulkJobStore,
    private readonly runner: BulkJobRunner,
    private readonly db: Db,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {}

  onModuleInit(): void {
    const wake = () => void this.runner.tick();
    this.operations.register(exportOperation({ db: this.db, store: this.store, search: this.search, jobs: this.jobs, wake }));
    this.operations.register(importOperation({ db: this.db, jobs: this.jobs, wake }));
    this.capability.addContributor(bulkCapabilities());
  }
}

/**
 * The bulk data door: `$export` (system, Patient, Group) as Postgres-backed background jobs writing NDJSON files
 * under DATA_DIR/bulk, their status/manifest/download endpoints, and `$import`.
 */
@Module({
  imports: [FhirModule, SearchModule, AuditModule],
  controllers: [BulkDataController],
  providers: [
    { provide: BULK_CONFIG, inject: [HUB_CONFIG], useFactory: (hub: HubConfig) => loadBulkConfig(hub) },
    { provide: BulkJobStore, inject: [Db], useFactory: (db: Db) => new BulkJobStore(db) },
    { provide: BulkAudit, inject: [HUB_LOGGER, AuditTrail], useFactory: (log: Logger, trail: AuditTrail) => new BulkAudit(log, trail) },
    {
      provide: ExportJobExecutor,
      inject: [Db, SEARCH_ENGINE, BulkJobStore, BULK_CONFIG, HUB_LOGGER, BulkAudit, SearchParamRegistry],
      useFactory: (db: Db, search: SearchEngine, jobs: BulkJobStore, config: BulkConfig, log: Logger, audit: BulkAudit, registry: SearchParamRegistry) =>
        new ExportJobExecutor(db, search, jobs, config, log, audit, new AssociatedProvenance(registry)),
    },
    {
      provide: ImportJobExecutor,
      inject: [Db, FhirPipeline, BulkJobStore, BULK_CONFIG, HUB_CONFIG, HUB_LOGGER, BulkAudit],
      useFactory: (db: Db, pipeline: FhirPipeline, jobs: BulkJobStore, config: BulkConfig, hub: HubConfig, log: Logger, audit: BulkAudit) =>
        new ImportJobExecutor(db, pipeline, jobs, config, () => hub.fhirBaseUrl, log, audit),
    },
    {
      provide: BulkJobRunner,
      inject: [BulkJobStore, ExportJobExecutor, ImportJobExecutor, BULK_CONFIG, HUB_LOGGER],
      useFactory: (jobs: BulkJobStore, exporter: ExportJobExecutor, importer: ImportJobExecutor, config: BulkConfig, log: Logger) =>
        new BulkJobRunner(jobs, { export: exporter, import: importer }, config, log),
    },
    BulkRegistration,
  ],
})
export class BulkModule {}
