import type { Principal } from '../fhir/pipeline/principal.js';

/**
 * Who may read the audit trail: administrators and auditors. Until the SMART authorization stage (issue 4) defines
 * roles, that is a principal with a system-level scope covering AuditEvent (`system/*.*`, `system/*.read`,
 * `system/AuditEvent.read`, ... — the development principal has `system/*.*`) or an explicit `admin` / `audit` scope.
 */
const AUDIT_READ = /^system\/(\*|AuditEvent)\.(\*|read|r|rs|cruds)$/;
const ADMIN = /^system\/\*\.(\*|cruds)$/;

export function mayReadAudit(p: Principal): boolean {
  return p.scopes.some((s) => s === 'admin' || s === 'audit' || AUDIT_READ.test(s));
}

/** $verify: administrators only. */
export function isAdmin(p: Principal): boolean {
  return p.scopes.some((s) => s === 'admin' || ADMIN.test(s));
}
