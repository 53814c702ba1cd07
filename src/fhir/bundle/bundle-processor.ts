import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Db, type Tx } from '../../modules/database/db.js';
import { FhirError } from '../operation-outcome.js';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import type { FhirPipeline, InteractionContext } from '../pipeline/pipeline.js';
import { parseFhirRequest, parseQueryString } from '../pipeline/request-parser.js';
import { SEARCH_ENGINE, type AccessRestriction, type SearchEngine } from '../search/search-engine.js';
import { ResourceStore, type PreparedCreate } from '../store/resource-store.js';
import { conditionalReferences, rewriteReferences } from './reference-rewriter.js';
import { renderEntryResponse } from './entry-response.js';

/** R4 transaction processing order (http.html#trules): DELETE, POST, PUT/PATCH, GET/HEAD. */
const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface PreparedEntry {
  index: number;
  ix: Interaction;
  method: string;
}

/**
 * batch and transaction Bundles. Each entry becomes the same Interaction its HTTP request would, and goes back
 * through the whole pipeline (so authorization, consent and audit apply entry by entry). A transaction runs in one
 * database transaction: any failing entry rolls everything back.
 */
@Injectable()
export class BundleProcessor {
  constructor(
    private readonly db: Db,
    private readonly store: ResourceStore,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {}

  async process(ix: Interaction, ctx: InteractionContext, pipeline: FhirPipeline): Promise<InteractionResult> {
    const bundle = ix.body as any;
    const entries: any[] = Array.isArray(bundle.entry) ? bundle.entry : [];
    if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) throw FhirError.badRequest('Bundle.entry must be an array');
    if (ix.kind === 'transaction') {
      if (ctx.tx) throw FhirError.badRequest('A transaction cannot be nested in another transaction');
      return this.transaction(ix, entries, ctx, pipeline);
    }
    return this.batch(ix, entries, ctx, pipeline);
  }

  private prepare(parent: Interaction, entry: any, index: number): PreparedEntry {
    const req = entry?.request;
    if (!req || typeof req.method !== 'string' || typeof req.url !== 'string') {
      throw FhirError.badRequest(`Bundle.entry[${index}].request must have method and url`);
    }
    const method = req.method.toUpperCase();
    if (!(method in ORDER)) throw FhirError.badRequest(`Bundle.entry[${index}].request.method "${req.method}" is not supported`);
    const [path, query = ''] = relativeUrl(req.url).split('?', 2) as [string, string?];
    const ix = parseFhirRequest({
      method: method === 'HEAD' ? 'GET' : method,
      path,
      query: parseQueryString(query),
      body: method === 'PATCH' ? patchBody(entry.resource) : entry.resource,
      bodyType: method === 'PATCH' && entry.resource?.resourceType === 'Binary' ? 'application/json-patch+json' : undefined,
      headers: { ifMatch: req.ifMatch, ifNoneExist: req.ifNoneExist, ifNoneMatch: req.ifNoneMatch, ifModifiedSince: req.ifModifiedSince, prefer: undefined },
      principal: parent.principal,
      door: 'bundle-entry',
      requestId: parent.requestId,
    });
    if (ix.kind === 'batch' || ix.kind === 'transaction') throw FhirError.badRequest(`Bundle.entry[${index}] may not itself be a batch or transaction`);
    ix.prefer = parent.prefer;
    return { index, ix, method };
  }

  private async transaction(ix: Interaction, entries: any[], ctx: InteractionContext, pipeline: FhirPipeline): Promise<InteractionResult> {
    const responses = await this.db.transaction(async (tx) => {
      const prepared = entries.map((e, i) => {
        try {
          return this.prepare(ix, e, i);
        } catch (err) {
          throw atEntry(err, i);
        }
      });
      checkDuplicates(prepared);
      const map = await this.resolveIdentities(tx, entries, prepared, ix.restriction);
      const out: any[] = new Array(entries.length);
      const ordered = [...prepared].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
      // POST entries are validated one by one and written together when the POST phase ends
      const createBatch: PreparedCreate[] = [];
      let entryCtx: InteractionContext = { ...ctx, tx, createBatch };
      for (const p of ordered) {
        if (entryCtx.createBatch && p.method !== 'POST' && p.method !== 'DELETE') {
          await this.store.createMany(tx, createBatch);
          entryCtx = { ...ctx, tx };
        }
        if (map.size && p.ix.body && p.method !== 'PATCH') p.ix.body = rewriteReferences(p.ix.body, map);
        try {
          const res = await this.runEntry(p, entries[p.index], map, entryCtx, pipeline);
          out[p.index] = renderEntryResponse(res, ctx.baseUrl, ix.prefer);
        } catch (err) {
          throw atEntry(err, p.index);
        }
      }
      if (entryCtx.createBatch) await this.store.createMany(tx, createBatch);
      // the audit records of the bundle and its entries commit with the transaction
      await ctx.commitHook?.beforeCommit(tx, { status: 200 });
      return out;
    });
    return { status: 200, resource: { resourceType: 'Bundle', type: 'transaction-response', entry: responses } };
  }

  private async runEntry(p: PreparedEntry, entry: any, map: Map<string, string>, ctx: InteractionContext, pipeline: FhirPipeline) {
    const target = entry.fullUrl ? map.get(entry.fullUrl) : undefined;
    // the id fixed up front (references to it were rewritten); a conditional create that matches ignores it
    if (p.ix.kind === 'create' && target) p.ix.presetId = target.split('/')[1];
    return pipeline.execute(p.ix, ctx);
  }

  /**
   * Assigns the ids of POST entries up front, resolves conditional creates/updates and conditional references,
   * so every urn:uuid and `Type?criteria` reference can be rewritten before the first write.
   */
  private async resolveIdentities(tx: Tx, entries: any[], prepared: PreparedEntry[], restriction: AccessRestriction | undefined): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    for (const p of prepared) {
      const entry = entries[p.index];
      const fullUrl: string | undefined = entry.fullUrl;
      if (p.ix.kind === 'create') {
        let id: string | undefined;
        if (p.ix.ifNoneExist) {
          const ids = await this.search.matchIds(tx, p.ix.resourceType!, p.ix.ifNoneExist, 2, restriction);
          if (ids.length > 1) throw atEntry(FhirError.preconditionFailed(`If-None-Exist matched ${ids.length} resources`), p.index);
          if (ids.length === 1) id = ids[0];
        }
        if (fullUrl) map.set(fullUrl, `${p.ix.resourceType}/${id ?? randomUUID()}`);
      } else if (p.ix.kind === 'update' && fullUrl?.startsWith('urn:')) {
        if (p.ix.id) map.set(fullUrl, `${p.ix.resourceType}/${p.ix.id}`);
        else {
          const ids = await this.search.matchIds(tx, p.ix.resourceType!, p.ix.params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'), 2, restriction);
          if (ids.length === 1) map.set(fullUrl, `${p.ix.resourceType}/${ids[0]}`);
          else if (ids.length === 0 && p.ix.body && (p.ix.body as any).id) map.set(fullUrl, `${p.ix.resourceType}/${(p.ix.body as any).id}`);
          else if (ids.length === 0) {
            const id = randomUUID();
            (p.ix.body as any) = { ...(p.ix.body as any), id };
            map.set(fullUrl, `${p.ix.resourceType}/${id}`);
          }
        }
      }
    }
    const conditional = new Set<string>();
    for (const e of entries) if (e.resource) conditionalReferences(e.resource, conditional);
    for (const ref of conditional) {
      const [type, criteria] = ref.split('?', 2);
      const ids = await this.search.matchIds(tx, type, criteria, 2, restriction);
      if (ids.length !== 1) {
        throw new FhirError(ids.length ? 412 : 404, `Conditional reference "${ref}" matched ${ids.length} resources (exactly one is required)`, ids.length ? 'multiple-matches' : 'not-found');
      }
      map.set(ref, `${type}/${ids[0]}`);
    }
    return map;
  }

  private async batch(ix: Interaction, entries: any[], ctx: InteractionContext, pipeline: FhirPipeline): Promise<InteractionResult> {
    const out: any[] = [];
    for (const [i, entry] of entries.entries()) {
      let p: PreparedEntry | undefined;
      try {
        p = this.prepare(ix, entry, i);
        out.push(renderEntryResponse(await pipeline.execute(p.ix, ctx), ctx.baseUrl, ix.prefer));
      } catch (err) {
        const e = err instanceof FhirError ? err : new FhirError(500, 'Internal error processing this entry', 'exception');
        // an entry refused before it became an interaction is still on record (audit)
        if (!p) await pipeline.rejected({ door: 'bundle-entry', method: String(entry?.request?.method ?? ''), path: String(entry?.request?.url ?? ''), principal: ix.principal, requestId: ix.requestId, error: e, baseUrl: ctx.baseUrl });
        out.push({ response: { status: String(e.status), outcome: e.outcome } });
      }
    }
    return { status: 200, resource: { resourceType: 'Bundle', type: 'batch-response', entry: out } };
  }
}

function relativeUrl(url: string): string {
  // absolute URLs pointing at this server's base are accepted as relative ones
  const m = /^https?:\/\/[^/]+\/(?:.*?\/)?fhir\/(.*)$/.exec(url);
  return (m ? m[1] : url).replace(/^\//, '');
}

function patchBody(resource: any): unknown {
  // In a Bundle, a JSON Patch travels as a Binary whose data is the base64 of the patch document.
  if (resource?.resourceType === 'Binary' && typeof resource.data === 'string') {
    try {
      return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8'));
    } catch {
      throw FhirError.badRequest('The Binary of a PATCH entry does not hold a JSON Patch');
    }
  }
  return resource; // a FHIRPath Patch (Parameters) as it is
}

function checkDuplicates(prepared: PreparedEntry[]): void {
  const seen = new Set<string>();
  for (const p of prepared) {
    if (!p.ix.id || p.ix.kind === 'read' || p.ix.kind === 'vread') continue;
    const key = `${p.ix.resourceType}/${p.ix.id}`;
    if (seen.has(key)) throw atEntry(FhirError.badRequest(`${key} is changed by more than one entry`), p.index);
    seen.add(key);
  }
}

function atEntry(err: unknown, index: number): unknown {
  if (err instanceof FhirError) {
    for (const i of err.outcome.issue) i.diagnostics = `Bundle.entry[${index}]: ${i.diagnostics ?? i.details?.text ?? ''}`;
    for (const i of err.outcome.issue) if (i.expression) i.expression = i.expression.map((x) => `Bundle.entry[${index}].resource.${x.split('.').slice(1).join('.')}`.replace(/\.$/, ''));
  }
  return err;
}

