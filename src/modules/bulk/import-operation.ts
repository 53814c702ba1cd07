import { randomUUID } from 'node:crypto';
import type { Db } from '../database/db.js';
import { R4Definitions } from '../../fhir/definitions/r4-definitions.js';
import type { OperationHandler } from '../../fhir/engine/operation-registry.js';
import { FhirError, issue, outcome } from '../../fhir/operation-outcome.js';
import type { Interaction } from '../../fhir/pipeline/interaction.js';
import { ownsJob, type BulkJobKind, type BulkJobStore } from './bulk-job-store.js';
import { jobPrincipal } from './export-operation.js';

export const IMPORT_DEFINITION = 'urn:hie-hub:OperationDefinition/bulk-import';
const FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);

/** One NDJSON file to load: where the client named it, and where it lies on the hub's storage. */
export interface ImportInput {
  type?: string;
  url: string;
  /** path below the bulk folder: `<job id>/<file name>` */
  file: string;
}

export interface ImportRequest {
  inputs: ImportInput[];
}

export const importStatusPath = (id: string) => `_bulk/import/${id}`;

/**
 * `POST [base]/$import` (Prefer: respond-async) with a Parameters body: `inputFormat` (NDJSON) and one `input` per
 * file, with parts `type` (optional) and `url`. The files must be on the hub's own storage and belong to the caller:
 * an upload (`POST [base]/_bulk/files`, answered with its URL) or a file of one of its exports. Loading runs as a
 * background job (status at `[base]/_bulk/import/[id]`).
 */
export function importOperation(deps: { db: Db; jobs: BulkJobStore; wake: () => void }): OperationHandler {
  return {
    name: 'import',
    definition: IMPORT_DEFINITION,
    levels: ['system'],
    affectsState: true,
    async execute(ix, ctx) {
      if (!ix.prefer.respondAsync) throw FhirError.badRequest('$import requires Prefer: respond-async');
      const body: any = ix.body;
      if (body?.resourceType !== 'Parameters') throw FhirError.badRequest('$import expects a Parameters body');
      const params: any[] = body.parameter ?? [];
      const format = params.find((p) => p.name === 'inputFormat');
      const formatValue = format?.valueCode ?? format?.valueString;
      if (format && !FORMATS.has(formatValue)) throw FhirError.badRequest(`inputFormat '${formatValue}' is not supported (application/fhir+ndjson)`, 'not-supported');
      const inputs: ImportInput[] = [];
      for (const p of params.filter((x) => x.name === 'input')) {
        const part = (name: string) => p.part?.find((x: any) => x.name === name);
        const typePart = part('type');
        const type = typePart?.valueCode ?? typePart?.valueString;
        const urlPart = part('url');
        const url = urlPart?.valueUri ?? urlPart?.valueUrl ?? urlPart?.valueString;
        if (typeof url !== 'string') throw FhirError.badRequest('Each input needs a url part');
        if (type !== undefined && !R4Definitions.get().isResourceType(type)) throw FhirError.badRequest(`input type '${type}' is not a resource type`);
        inputs.push({ type, url, file: await resolve(deps.jobs, ix, ctx.baseUrl, url) });
      }
      if (!inputs.length) throw FhirError.badRequest('$import needs at least one input');
      for (const p of params) {
        if (!['input', 'inputFormat', 'inputSource', 'storageDetail', 'mode'].includes(p.name) && ix.prefer.handling !== 'lenient') {
          throw FhirError.badRequest(`Unknown $import parameter '${p.name}'`, 'not-supported');
        }
      }
      const id = randomUUID();
      await deps.jobs.create(ctx.tx ?? deps.db, {
        id,
        kind: 'import',
        requestUrl: `${ctx.baseUrl}/$import`,
        request: { inputs } satisfies ImportRequest,
        principal: jobPrincipal(ix),
        transactionTime: new Date().toISOString(),
      });
      setImmediate(deps.wake);
      return {
        status: 202,
        resource: outcome(issue('information', 'informational', `Import job ${id} queued (${inputs.length} files)`)),
        headers: { 'Content-Location': `${ctx.baseUrl}/${importStatusPath(id)}` },
      };
    },
  };
}

/** A file URL of this hub (an upload or an export's output) → its place on disk, when the caller owns it. */
async function resolve(jobs: BulkJobStore, ix: Interaction, baseUrl: string, url: string): Promise<string> {
  const rel = url.startsWith(`${baseUrl}/`) ? url.slice(baseUrl.length + 1) : url;
  const m = /^_bulk\/(?:files\/([0-9a-f-]{36})|export\/([0-9a-f-]{36})\/([A-Za-z]+-\d+\.ndjson))$/.exec(rel);
  if (!m) throw FhirError.badRequest(`input url '${url}' is not a file on this hub (upload it with POST ${baseUrl}/_bulk/files, or name an export's file)`, 'not-supported');
  const [kind, id, fileName]: [BulkJobKind, string, string] = m[1] ? ['upload', m[1], 'upload.ndjson'] : ['export', m[2], m[3]];
  const job = await jobs.get(id, kind);
  const output = job && job.state === 'completed' ? await jobs.output(id, fileName) : undefined;
  if (!job || !output) throw FhirError.badRequest(`input url '${url}': no such file (unknown, not finished, or expired)`);
  if (!ownsJob(ix.principal, job)) throw new FhirError(403, `input url '${url}' belongs to another client or user`, 'forbidden');
  return `${id}/${fileName}`;
}
