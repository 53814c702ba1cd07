import type { Db } from '../../../modules/database/db.js';
import type { OperationHandler } from '../../engine/operation-registry.js';
import { FhirError } from '../../operation-outcome.js';
import type { Interaction } from '../../pipeline/interaction.js';
import type { ReindexJobs, ReindexJobStatus } from './reindex-jobs.js';

/** Parameters value from the query string or a Parameters body. */
function param(ix: Interaction, name: string): string | undefined {
  const q = ix.params.find(([k]) => k === name)?.[1];
  if (q !== undefined) return q;
  const body: any = ix.body;
  const p = body?.resourceType === 'Parameters' ? body.parameter?.find((x: any) => x.name === name) : undefined;
  return p?.valueString ?? p?.valueCode ?? p?.valueId;
}

function statusParameters(s: ReindexJobStatus): any {
  const parameter: any[] = [
    { name: 'job', valueString: s.id },
    { name: 'status', valueCode: s.status },
    { name: 'processed', valueInteger: s.processed },
  ];
  if (s.total !== null) parameter.push({ name: 'total', valueInteger: s.total });
  if (s.resourceTypes) for (const t of s.resourceTypes) parameter.push({ name: 'type', valueCode: t });
  if (s.error) parameter.push({ name: 'error', valueString: s.error });
  return { resourceType: 'Parameters', parameter };
}

/**
 * `POST [base]/$reindex` or `POST [base]/[type]/$reindex` (optional `type=A,B`): queues a background reindex
 * (needed after creating a custom SearchParameter, or when definitions change) and answers 202 with the job's
 * status URL. Progress: `GET [base]/$reindex-status?job=N`.
 */
export function reindexOperations(jobs: ReindexJobs, db: Db, isResourceType: (t: string) => boolean): OperationHandler[] {
  const start: OperationHandler = {
    name: 'reindex',
    definition: 'urn:hie-hub:OperationDefinition/reindex',
    levels: ['system', 'type'],
    affectsState: true,
    async execute(ix, ctx) {
      const types = ix.resourceType ? [ix.resourceType] : (param(ix, 'type')?.split(',').map((t) => t.trim()).filter(Boolean) ?? []);
      for (const t of types) if (!isResourceType(t)) throw FhirError.badRequest(`Unknown resource type '${t}'`);
      const id = await jobs.enqueue(ctx.tx ?? db, types);
      const status = await jobs.status(ctx.tx ?? db, id);
      return { status: 202, resource: statusParameters(status!), headers: { 'content-location': `${ctx.baseUrl}/$reindex-status?job=${id}` } };
    },
  };
  const status: OperationHandler = {
    name: 'reindex-status',
    definition: 'urn:hie-hub:OperationDefinition/reindex-status',
    levels: ['system'],
    affectsState: false,
    async execute(ix, ctx) {
      const id = param(ix, 'job');
      if (!id) throw FhirError.badRequest('job is required');
      const s = await jobs.status(ctx.tx ?? db, id);
      if (!s) throw FhirError.notFound(`No reindex job ${id}`);
      return { status: 200, resource: statusParameters(s) };
    },
  };
  return [start, status];
}
