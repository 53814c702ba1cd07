import type { Logger } from 'pino';
import type { Tx } from '../database/db.js';
import { DCM, type AuditTrail, type AuditTrailEvent } from '../../audit/audit-trail.js';
import type { JobPrincipal } from './bulk-job-store.js';

/** What bulk data records in the audit trail: one event per job (what it held) and one per file download. */
export type BulkAuditEvent =
  | { action: 'export-completed' | 'export-failed' | 'export-cancelled'; jobId: string; principal: JobPrincipal; level: string; types: string[]; patients: string[] | 'all'; resources: number }
  | { action: 'export-file-downloaded'; jobId: string; principal: JobPrincipal; file: string; resourceType: string; count: number; address?: string }
  | { action: 'import-completed' | 'import-failed'; jobId: string; principal: JobPrincipal; types: string[]; resources: number; errors: number };

export const BULK_EVENT_SYSTEM = 'urn:hie-hub:bulk-data';

/** Patients named one by one in a job's record; beyond this the record says how many (the job's request names them all). */
const MAX_PATIENTS = 1000;

/**
 * The audit call site of bulk data: each event becomes one AuditEvent in the hash chain (DCM 110106 Export or
 * 110107 Import, subtype naming the bulk event, the job as `urn:uuid:` entity, the patients exported). The kick-off
 * itself passes the pipeline's audit stage as a `$export`/`$import` operation. A job's end is recorded in the
 * transaction that marks it completed (the manifest is never served before its record is committed; a record that
 * cannot be written fails the completion); a download or a cancellation is recorded before the response. Without
 * a transaction, a failure to record is logged and does not fail the job.
 */
export class BulkAudit {
  constructor(
    private readonly log: Logger,
    private readonly trail?: AuditTrail,
  ) {}

  async record(event: BulkAuditEvent, tx?: Tx): Promise<void> {
    this.log.info({ audit: { ...event, principal: event.principal.clientId, patients: 'patients' in event && Array.isArray(event.patients) ? event.patients.length : undefined } }, 'bulk data audit event');
    if (!this.trail) return;
    // in a transaction a failed append must fail it (a swallowed error would leave it aborted)
    if (tx) {
      await this.trail.record(toAuditTrailEvent(event), tx);
      return;
    }
    return this.trail.record(toAuditTrailEvent(event)).then(
      () => undefined,
      (err) => this.log.error({ err, jobId: event.jobId }, 'bulk data audit event could not be recorded'),
    );
  }
}

export function toAuditTrailEvent(e: BulkAuditEvent): AuditTrailEvent {
  const importing = e.action.startsWith('import');
  const { restriction: _r, ...principal } = e.principal;
  const base = {
    type: importing ? { system: DCM, code: '110107', display: 'Import' } : { system: DCM, code: '110106', display: 'Export' },
    subtype: [{ system: BULK_EVENT_SYSTEM, code: e.action, display: e.action.replace(/-/g, ' ') }],
    principal: { ...principal, address: 'address' in e ? e.address : undefined },
    entities: [`urn:uuid:${e.jobId}`],
    door: 'bulk',
  };
  switch (e.action) {
    case 'export-file-downloaded':
      return { ...base, action: 'R', status: 200, outcomeDesc: `downloaded ${e.file}: ${e.count} ${e.resourceType}` };
    case 'import-completed':
    case 'import-failed':
      return { ...base, action: 'C', status: e.action === 'import-failed' ? 500 : e.errors ? 207 : 200, outcomeDesc: `${e.resources} resources loaded (${e.types.join(', ') || 'none'}), ${e.errors} lines rejected` };
    default: {
      const named = e.patients === 'all' ? [] : e.patients.slice(0, MAX_PATIENTS);
      const patients = e.patients === 'all' ? 'all patients' : `${e.patients.length} patients${e.patients.length > named.length ? ` (the first ${named.length} named)` : ''}`;
      return {
        ...base,
        action: 'E',
        status: e.action === 'export-failed' ? 500 : 200,
        outcomeDesc: `${e.action.slice(7)} ${e.level}-level export of ${e.types.join(', ') || 'every type'} for ${patients}: ${e.resources} resources`,
        patients: named,
      };
    }
  }
}
