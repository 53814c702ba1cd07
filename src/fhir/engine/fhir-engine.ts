import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Db } from '../../modules/database/db.js';
import { BundleProcessor } from '../bundle/bundle-processor.js';
import { CapabilityStatementBuilder } from '../capability/capability-statement.js';
import { FhirError } from '../operation-outcome.js';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import { FhirPipeline, type InteractionContext, type InteractionExecutor } from '../pipeline/pipeline.js';
import { SEARCH_ENGINE, type SearchEngine } from '../search/search-engine.js';
import { ResourceStore } from '../store/resource-store.js';
import { HistoryReader } from './history-reader.js';
import { OperationRegistry } from './operation-registry.js';
import { ResourceTypeProviders } from './resource-type-providers.js';
import { ResourceWriter } from './resource-writer.js';

/**
 * The innermost pipeline step: carries out an interaction that every stage has let through. It dispatches on the
 * interaction kind to the store, the search engine, the bundle processor and the registered operations.
 */
@Injectable()
export class FhirEngine implements InteractionExecutor, OnModuleInit {
  constructor(
    private readonly db: Db,
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriter,
    private readonly history: HistoryReader,
    private readonly bundles: BundleProcessor,
    private readonly operations: OperationRegistry,
    private readonly capability: CapabilityStatementBuilder,
    private readonly pipeline: FhirPipeline,
    private readonly providers: ResourceTypeProviders,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {}

  onModuleInit(): void {
    this.pipeline.setExecutor(this);
  }

  async execute(ix: Interaction, ctx: InteractionContext, pipeline: FhirPipeline): Promise<InteractionResult> {
    const q = ctx.tx ?? this.db;
    const provider = this.providers.forInteraction(ix);
    if (provider) return provider.execute(ix, ctx);
    switch (ix.kind) {
      case 'capabilities':
        return { status: 200, resource: this.capability.build(ctx.baseUrl) };
      case 'read':
        return this.read(ix, ctx);
      case 'vread':
        return this.vread(ix, ctx);
      case 'create':
        return this.writer.create(ix, ctx, ix.presetId);
      case 'update':
        return this.writer.update(ix, ctx);
      case 'patch':
        return this.writer.patch(ix, ctx);
      case 'delete':
        return this.writer.delete(ix, ctx);
      case 'history-instance':
      case 'history-type':
      case 'history-system':
        return { status: 200, resource: await this.history.bundle(q, ix, ctx.baseUrl) };
      case 'search-type':
      case 'search-system':
      case 'search-compartment': {
        const { json, patients } = await this.search.searchJson(q, {
          resourceType: ix.resourceType,
          compartment: ix.compartment,
          params: ix.params,
          strict: ix.prefer.handling === 'strict',
          principal: ix.principal,
          baseUrl: ctx.baseUrl,
          restriction: ix.restriction,
        });
        return { status: 200, resourceJson: json, patients };
      }
      case 'batch':
      case 'transaction':
        return this.bundles.process(ix, ctx, pipeline);
      case 'operation':
        return this.operation(ix, ctx);
    }
  }

  private async read(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const stored = await this.store.read(ctx.tx ?? this.db, ix.resourceType!, ix.id!);
    if (!stored) throw FhirError.notFound(`${ix.resourceType}/${ix.id} is not known`);
    const headers = { ETag: `W/"${stored.versionId}"`, 'Last-Modified': new Date(stored.lastUpdated).toUTCString() };
    if (stored.deleted) throw new FhirError(410, `${ix.resourceType}/${ix.id} was deleted`, 'deleted', headers);
    if (notModified(ix, stored.versionId, stored.lastUpdated)) return { status: 304, versionId: String(stored.versionId), lastUpdated: stored.lastUpdated };
    return { status: 200, resourceJson: stored.json, versionId: String(stored.versionId), lastUpdated: stored.lastUpdated };
  }

  private async vread(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const vid = Number(ix.versionId);
    if (!Number.isInteger(vid) || vid < 1) throw FhirError.notFound(`Version "${ix.versionId}" is not a version id`);
    const stored = await this.store.vread(ctx.tx ?? this.db, ix.resourceType!, ix.id!, vid);
    if (!stored) throw FhirError.notFound(`${ix.resourceType}/${ix.id}/_history/${ix.versionId} is not known`);
    if (stored.deleted) throw FhirError.gone(`${ix.resourceType}/${ix.id}/_history/${ix.versionId} is a deletion`);
    return { status: 200, resourceJson: stored.json, versionId: String(stored.versionId), lastUpdated: stored.lastUpdated };
  }

  private async operation(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const handler = this.operations.find(ix.operation!);
    const level = ix.id ? 'instance' : ix.resourceType ? 'type' : 'system';
    const where = ix.resourceType ? `${ix.resourceType}${ix.id ? '/' + ix.id : ''}/` : '';
    if (!handler || !handler.levels.includes(level) || (ix.resourceType && handler.resourceTypes && !handler.resourceTypes.includes(ix.resourceType))) {
      throw FhirError.notFound(`Operation ${where}$${ix.operation} is not supported`);
    }
    return handler.execute(ix, ctx);
  }
}

/** If-None-Match (ETag) and If-Modified-Since (date) on reads. */
function notModified(ix: Interaction, versionId: number, lastUpdated: string): boolean {
  if (ix.ifNoneMatch) {
    return ix.ifNoneMatch.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === `"${versionId}"`);
  }
  if (ix.ifModifiedSince) {
    const since = Date.parse(ix.ifModifiedSince);
    // HTTP dates have second precision
    return !Number.isNaN(since) && Math.floor(Date.parse(lastUpdated) / 1000) * 1000 <= since;
  }
  return false;
}
