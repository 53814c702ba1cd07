import { Injectable, OnModuleInit } from '@nestjs/common';
import { Db } from '../../modules/database/db.js';
import { CapabilityStatementBuilder } from '../capability/capability-statement.js';
import { OperationRegistry } from '../engine/operation-registry.js';
import { SearchParamRegistry } from './params/search-param-registry.js';
import { reindexOperations } from './reindex/reindex-operation.js';
import { ReindexJobs } from './reindex/reindex-jobs.js';
import { SearchCapabilities } from './search-capabilities.js';

/** Plugs search into the core: its parameters into the CapabilityStatement, `$reindex` into the operations. */
@Injectable()
export class SearchRegistration implements OnModuleInit {
  constructor(
    private readonly capability: CapabilityStatementBuilder,
    private readonly operations: OperationRegistry,
    private readonly searchCapabilities: SearchCapabilities,
    private readonly jobs: ReindexJobs,
    private readonly registry: SearchParamRegistry,
    private readonly db: Db,
  ) {}

  onModuleInit(): void {
    this.capability.addContributor(this.searchCapabilities);
    for (const op of reindexOperations(this.jobs, this.db, (t) => this.registry.isResourceType(t))) this.operations.register(op);
  }
}
