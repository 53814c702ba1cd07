import { randomUUID } from 'node:crypto';
import type { Db } from '../database/db.js';
import type { OperationHandler } from '../../fhir/engine/operation-registry.js';
import { FhirError, issue, outcome } from '../../fhir/operation-outcome.js';
import type { Interaction } from '../../fhir/pipeline/interaction.js';
import type { SearchEngine } from '../../fhir/search/search-engine.js';
import type { ResourceStore } from '../../fhir/store/resource-store.js';
import type { BulkJobStore, JobPrincipal } from './bulk-job-store.js';
import { parseExportRequest, type ExportLevel, type ExportRequest } from './export-request.js';

export const BULK_DATA_CAPABILITY = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';
export const EXPORT_DEFINITIONS: Record<ExportLevel, string> = {
  system: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
  patient: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
  group: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
};

/** Path (relative to the base) of an export job's status endpoint; its files are below it. */
export const exportStatusPath = (id: string) => `_bulk/export/${id}`;

function levelOf(ix: Interaction): ExportLevel {
  if (!ix.resourceType) return 'system';
  if (ix.resourceType === 'Patient' && !ix.id) return 'patient';
  if (ix.resourceType === 'Group' && ix.id) return 'group';
  throw FhirError.notFound(`$export is served at [base]/$export, [base]/Patient/$export and [base]/Group/[id]/$export, not ${ix.resourceType}${ix.id ? '/' + ix.id : ''}/$export`);
}

/** The kick-off URL as the client sent it (a POST's parameters are in its body, not here). */
function requestUrl(baseUrl: string, ix: Interaction): string {
  const where = ix.resourceType ? `${ix.resourceType}/${ix.id ? `${ix.id}/` : ''}` : '';
  const query = ix.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${baseUrl}/${where}$export${query ? `?${query}` : ''}`;
}

/** The principal stored with a job (without its network address), with the restriction the stages gave it. */
export function jobPrincipal(ix: Interaction): JobPrincipal {
  const { address: _address, ...principal } = ix.principal;
  return { ...principal, restriction: ix.restriction };
}

/** Patient ids among a Group's active members (`member.entity` references to Patient). */
export function groupPatients(group: any): string[] {
  const ids = new Set<string>();
  for (const m of group?.member ?? []) {
    if (m?.inactive === true) continue;
    const match = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(String(m?.entity?.reference ?? ''));
    if (match) ids.add(match[1]);
  }
  return [...ids];
}

export interface ExportOperationDeps {
  db: Db;
  store: ResourceStore;
  search: SearchEngine;
  jobs: BulkJobStore;
  /** wakes the job runner so the job starts at once */
  wake: () => void;
}

/**
 * The `$export` kick-off at system, patient and group level (GET, or POST with a Parameters body), served through
 * the pipeline like every operation (authorize, consent and audit stages apply). It checks the request, fixes the
 * transaction time and the cohort, and queues a job; 202 with the status URL in Content-Location.
 */
export function exportOperation(deps: ExportOperationDeps): OperationHandler {
  return {
    name: 'export',
    definition: EXPORT_DEFINITIONS.system,
    levels: ['system', 'type', 'instance'],
    resourceTypes: ['Patient', 'Group'],
    affectsState: false,
    async execute(ix, ctx) {
      const level = levelOf(ix);
      if (!ix.accept || !/application\/fhir\+json/.test(ix.accept)) throw FhirError.badRequest('$export requires Accept: application/fhir+json');
      if (!ix.prefer.respondAsync) throw FhirError.badRequest('$export requires Prefer: respond-async');
      const warnings: string[] = [];
      const request: ExportRequest = parseExportRequest(ix, level, warnings);
      const q = ctx.tx ?? deps.db;
      if (level === 'group') {
        const stored = await deps.store.read(q, 'Group', ix.id!);
        if (!stored || stored.deleted) throw FhirError.notFound(`Group/${ix.id} is not known`);
        const members = groupPatients(JSON.parse(stored.json!));
        request.groupId = ix.id;
        request.patients = request.patients ? request.patients.filter((p) => members.includes(p)) : members;
      }
      // filters are compiled now, so a bad one is the client's 400 instead of a failed job later
      for (const [type, filters] of Object.entries(request.typeFilters)) {
        await deps.search.scanRids(q, type, { filters, afterRid: '0', limit: 0, restriction: ix.restriction });
      }
      const id = randomUUID();
      const transactionTime = new Date().toISOString();
      await deps.jobs.create(q, {
        id,
        kind: 'export',
        requestUrl: requestUrl(ctx.baseUrl, ix),
        request,
        principal: jobPrincipal(ix),
        transactionTime,
      });
      setImmediate(deps.wake);
      return {
        status: 202,
        resource: outcome(
          issue('information', 'informational', `Export job ${id} queued (${request.types.length} resource types${request.associatedData ? ` and ${request.associatedData}` : ''}, as of ${transactionTime})`),
          ...warnings.map((w) => issue('warning', 'not-supported', w)),
        ),
        headers: { 'Content-Location': `${ctx.baseUrl}/${exportStatusPath(id)}` },
      };
    },
  };
}
