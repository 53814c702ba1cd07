import { Module } from '@nestjs/common';
import { BundleProcessor } from './bundle/bundle-processor.js';
import { CapabilityStatementBuilder } from './capability/capability-statement.js';
import { FhirEngine } from './engine/fhir-engine.js';
import { HistoryReader } from './engine/history-reader.js';
import { OperationRegistry } from './engine/operation-registry.js';
import { ResourceTypeProviders } from './engine/resource-type-providers.js';
import { ResourcePreparers } from './engine/resource-preparers.js';
import { ResourceWriter } from './engine/resource-writer.js';
import { FhirPipeline } from './pipeline/pipeline.js';
import { FhirRestController } from './rest/fhir-rest.controller.js';
import { SearchModule } from './search/search.module.js';
import { SearchRegistration } from './search/search-registration.js';
import { ResourceStore } from './store/resource-store.js';
import { ResourceWriteHooks } from './store/write-hooks.js';
import { ResourceValidator } from './validation/resource-validator.js';
import { ValidateOperation } from './validation/validate-operation.js';

/** The FHIR core (store, search, bundles, validation, engine, pipeline) and its REST door. */
@Module({
  imports: [SearchModule],
  controllers: [FhirRestController],
  providers: [
    ResourceStore,
    ResourceWriteHooks,
    { provide: ResourceValidator, useFactory: () => new ResourceValidator() },
    ResourcePreparers,
    ResourceWriter,
    HistoryReader,
    BundleProcessor,
    OperationRegistry,
    ResourceTypeProviders,
    CapabilityStatementBuilder,
    FhirPipeline,
    FhirEngine,
    ValidateOperation,
    SearchRegistration,
  ],
  exports: [FhirPipeline, OperationRegistry, ResourceTypeProviders, CapabilityStatementBuilder, ResourceStore, ResourceValidator, ResourceWriteHooks, SearchModule, ResourcePreparers],
})
export class FhirModule {}
