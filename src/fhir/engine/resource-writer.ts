import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Db, inTransaction, type Tx } from '../../modules/database/db.js';
import { FhirError, outcome } from '../operation-outcome.js';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import type { InteractionContext } from '../pipeline/pipeline.js';
import { SEARCH_ENGINE, type SearchEngine } from '../search/search-engine.js';
import { ResourceStore } from '../store/resource-store.js';
import { parseEtagVersion, type StoredVersion } from '../store/stored-resource.js';
import { ResourceValidator } from '../validation/resource-validator.js';
import { applyFhirPathPatch, isFhirPathPatch } from './fhirpath-patch.js';
import { applyJsonPatch } from './json-patch.js';
import { ResourcePreparers } from './resource-preparers.js';

/** Most matches a conditional delete will remove in one request. */
const MAX_CONDITIONAL_DELETE = 1000;

/** Query string of a conditional interaction (`PUT Patient?identifier=...`), without result parameters. */
export function criteriaOf(ix: Interaction): string {
  return ix.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

export function writeResult(stored: StoredVersion, status: number): InteractionResult {
  return {
    status,
    resourceJson: stored.json,
    versionId: String(stored.versionId),
    lastUpdated: stored.lastUpdated,
    location: `${stored.resourceType}/${stored.id}/_history/${stored.versionId}`,
  };
}

/**
 * create, update, patch and delete, plain and conditional. Each runs in one transaction (the caller's when inside
 * a transaction Bundle), validates before it stores, and never leaves a half-applied write.
 */
@Injectable()
export class ResourceWriter {
  constructor(
    private readonly db: Db,
    private readonly store: ResourceStore,
    private readonly validator: ResourceValidator,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
    @Optional() private readonly preparers?: ResourcePreparers,
  ) {}

  /** Rejects a body that is not a valid resource of the URL's type (400 with every issue found). */
  checkResource(ix: Interaction, body: unknown): any {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw FhirError.badRequest('The request body must be a FHIR resource (a JSON object)');
    }
    const resource = body as any;
    if (resource.resourceType !== ix.resourceType) {
      throw FhirError.badRequest(`resourceType "${String(resource.resourceType)}" does not match the URL type "${ix.resourceType}"`);
    }
    const issues = this.validator.validate(resource);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length) throw new FhirError(400, outcome(...issues));
    this.preparers?.prepare(ix, resource); // after validation: what preparers add (meta tags, labels) is always valid
    return resource;
  }

  async create(ix: Interaction, ctx: InteractionContext, presetId?: string): Promise<InteractionResult> {
    const resource = this.checkResource(ix, ix.body);
    if (!ctx.tx && !ix.ifNoneExist && !ctx.createBatch) {
      // a plain create: group-committed with the concurrent ones (the store's stamp replaces any id the client sent)
      const prepared = this.store.prepareCreate(ix.resourceType!, resource, presetId ?? randomUUID(), new Date().toISOString());
      const hook = ctx.commitHook;
      if (hook) prepared.beforeCommit = (tx, stored) => hook.beforeCommit(tx, writeResult(stored, 201));
      return writeResult(await this.store.createGrouped(prepared), 201);
    }
    return this.transact(ctx, async (tx) => {
      if (ix.ifNoneExist) {
        const ids = await this.matchLocked(tx, ix, ix.ifNoneExist, 2);
        if (ids.length > 1) throw FhirError.preconditionFailed(`If-None-Exist matched ${ids.length} resources`);
        if (ids.length === 1) {
          const existing = await this.store.read(tx, ix.resourceType!, ids[0]);
          return { ...writeResult(existing!, 200), location: `${ix.resourceType}/${ids[0]}/_history/${existing!.versionId}` };
        }
      }
      // the server assigns the id of a create: the store's stamp replaces any id the client sent
      if (ctx.createBatch) {
        const prepared = this.store.prepareCreate(ix.resourceType!, resource, presetId ?? randomUUID(), ctx.createBatch.at(-1)?.lastUpdated ?? new Date().toISOString());
        ctx.createBatch.push(prepared);
        // (written with the Bundle's other creates: the result carries the stamped resource, its text is not made yet)
        return { ...writeResult({ ...prepared, rid: '', versionId: 1, deleted: false, method: 'POST' }, 201), resource: prepared.doc };
      }
      const stored = await this.store.create(tx, ix.resourceType!, resource, presetId);
      return writeResult(stored, 201);
    });
  }

  async update(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const resource = this.checkResource(ix, ix.body);
    const expectedVersion = this.expectedVersion(ix);
    return this.transact(ctx, async (tx) => {
      let id = ix.id;
      if (!id) {
        // conditional update: PUT Type?criteria
        const criteria = criteriaOf(ix);
        if (!criteria) throw FhirError.badRequest('Conditional update needs search criteria');
        const ids = await this.matchLocked(tx, ix, criteria, 2);
        if (ids.length > 1) throw FhirError.preconditionFailed(`Conditional update matched ${ids.length} resources`);
        if (ids.length === 1) {
          if (resource.id && resource.id !== ids[0]) throw FhirError.badRequest(`Resource id "${resource.id}" does not match the matched resource ${ids[0]}`);
          id = ids[0];
        } else {
          const stored = resource.id
            ? (await this.store.update(tx, ix.resourceType!, resource.id, resource, { method: 'PUT' })).stored
            : await this.store.create(tx, ix.resourceType!, resource, undefined, 'PUT');
          return writeResult(stored, 201);
        }
      } else if (resource.id !== id) {
        throw FhirError.badRequest(resource.id ? `Resource id "${resource.id}" does not match the URL id "${id}"` : 'An update must carry the resource id in the body');
      }
      const { stored, created } = await this.store.update(tx, ix.resourceType!, id, { ...resource, id }, { expectedVersion, method: 'PUT' });
      return writeResult(stored, created ? 201 : 200);
    });
  }

  async patch(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const fhirPathPatch = isFhirPathPatch(ix.body);
    if (ix.bodyType && ix.bodyType !== 'application/json-patch+json' && !(fhirPathPatch && /^application\/(fhir\+)?json$/.test(ix.bodyType))) {
      throw new FhirError(415, `PATCH takes application/json-patch+json (JSON Patch) or a FHIRPath Patch Parameters as application/fhir+json; got ${ix.bodyType}`, 'not-supported');
    }
    const expectedVersion = this.expectedVersion(ix);
    return this.transact(ctx, async (tx) => {
      let id = ix.id;
      if (!id) {
        const ids = await this.matchLocked(tx, ix, criteriaOf(ix), 2);
        if (ids.length !== 1) throw ids.length ? FhirError.preconditionFailed(`Conditional patch matched ${ids.length} resources`) : FhirError.notFound('Conditional patch matched no resource');
        id = ids[0];
      }
      const current = await this.store.readForUpdate(tx, ix.resourceType!, id);
      if (!current) throw FhirError.notFound(`${ix.resourceType}/${id} not found`);
      if (current.deleted) throw FhirError.gone(`${ix.resourceType}/${id} is deleted`);
      if (expectedVersion !== undefined && expectedVersion !== current.versionId) {
        throw FhirError.preconditionFailed(`Version conflict: ${ix.resourceType}/${id} is at version ${current.versionId}, If-Match asked for ${expectedVersion}`);
      }
      const patched = fhirPathPatch ? applyFhirPathPatch(JSON.parse(current.json!), ix.body) : applyJsonPatch(JSON.parse(current.json!), ix.body);
      this.checkResource(ix, patched);
      const { stored } = await this.store.update(tx, ix.resourceType!, id, patched, { expectedVersion: current.versionId, method: 'PATCH' });
      return writeResult(stored, 200);
    });
  }

  async delete(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    return this.transact(ctx, async (tx) => {
      if (ix.id) {
        const expectedVersion = this.expectedVersion(ix);
        if (expectedVersion !== undefined) {
          const current = await this.store.readForUpdate(tx, ix.resourceType!, ix.id);
          if (!current || current.versionId !== expectedVersion) throw FhirError.preconditionFailed(`If-Match ${expectedVersion} does not match the current version`);
        }
        const stored = await this.store.delete(tx, ix.resourceType!, ix.id);
        return stored ? { status: 204, versionId: String(stored.versionId), lastUpdated: stored.lastUpdated } : { status: 204 };
      }
      const criteria = criteriaOf(ix);
      if (!criteria) throw FhirError.badRequest('Conditional delete needs search criteria');
      const ids = await this.matchLocked(tx, ix, criteria, MAX_CONDITIONAL_DELETE + 1);
      if (ids.length > MAX_CONDITIONAL_DELETE) throw FhirError.preconditionFailed(`Conditional delete matched more than ${MAX_CONDITIONAL_DELETE} resources`);
      for (const id of ids) await this.store.delete(tx, ix.resourceType!, id);
      return { status: 204, headers: { 'X-Deleted-Count': String(ids.length) } };
    });
  }

  /**
   * Runs a write in the caller's transaction (a transaction Bundle's), or in one of its own; in its own, the
   * interaction's commit hook (its audit record) runs in that transaction just before COMMIT.
   */
  private transact(ctx: InteractionContext, fn: (tx: Tx) => Promise<InteractionResult>): Promise<InteractionResult> {
    if (ctx.tx) return fn(ctx.tx);
    return this.db.transaction(async (tx) => {
      const result = await fn(tx);
      await ctx.commitHook?.beforeCommit(tx, result);
      return result;
    });
  }

  private expectedVersion(ix: Interaction): number | undefined {
    if (ix.ifMatch === undefined) return undefined;
    const v = parseEtagVersion(ix.ifMatch);
    if (v === undefined) throw FhirError.badRequest(`Malformed If-Match "${ix.ifMatch}" (expected W/"<version>")`);
    return v;
  }

  /**
   * Conditional matches serialise on an advisory lock of (type, criteria), so two concurrent conditional creates
   * with the same criteria cannot both create.
   */
  private async matchLocked(tx: Tx, ix: Interaction, criteria: string, limit: number): Promise<string[]> {
    const resourceType = ix.resourceType!;
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${resourceType}?${criteria}`]);
    return this.search.matchIds(tx, resourceType, criteria, limit, ix.restriction);
  }
}
