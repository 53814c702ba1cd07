import type { Tx } from '../modules/database/db.js';
import type { Interaction } from '../fhir/pipeline/interaction.js';
import type { Principal } from '../fhir/pipeline/principal.js';
import type { AuditTrailEvent } from '../audit/audit-trail.js';

/** A consent decision or break-the-glass event that must be in the audit trail. */
export interface ConsentAuditEvent {
  kind: 'denied' | 'filtered' | 'break-glass-started' | 'break-glass-access' | 'break-glass-reviewed';
  principal: Principal;
  /** patient ids (without `Patient/`) whose data the decision is about */
  patients: string[];
  /** `Consent/id` references that decided, and the break-the-glass session as `urn:uuid:` */
  entities: string[];
  /** why, in words: which Consent and provision, or the base policy, or the break-the-glass reason */
  reason: string;
  /** the interaction, e.g. `read Observation/1` */
  interaction?: string;
  status?: number;
  requestId?: string;
  door?: string;
}

/** Where consent decisions go: the audit trail (`AuditTrail.record` of `toAuditTrailEvent(event)`, wired in consent.module.ts). */
export interface ConsentAuditRecorder {
  record(event: ConsentAuditEvent, tx?: Tx): Promise<void>;
  /** A decision about an interaction in the pipeline: committed with the interaction's own record (same commit). */
  recordWith(ix: Interaction, event: ConsentAuditEvent): void;
}

export const CONSENT_AUDIT_RECORDER = Symbol('CONSENT_AUDIT_RECORDER');

export const CONSENT_DECISION_SYSTEM = 'urn:hie-hub:consent-decision';

/** The event as an `AuditTrailEvent` of src/audit. */
export function toAuditTrailEvent(e: ConsentAuditEvent): AuditTrailEvent {
  const breakGlass = e.kind.startsWith('break-glass');
  return {
    // DCM 110113 Security Alert for denials and emergency access; 110106 Export for filtered results would be wrong
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110113', display: 'Security Alert' },
    subtype: [
      { system: CONSENT_DECISION_SYSTEM, code: e.kind, display: e.kind.replace(/-/g, ' ') },
      ...(breakGlass ? [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' }] : []),
    ],
    action: (e.kind === 'break-glass-started' ? 'C' : e.kind === 'break-glass-reviewed' ? 'U' : 'E') as 'C' | 'U' | 'E',
    status: e.status ?? (e.kind === 'denied' ? 403 : 200),
    outcomeDesc: `${e.interaction ? `${e.interaction}: ` : ''}${e.reason}`,
    principal: e.principal,
    patients: e.patients,
    entities: e.entities,
    requestId: e.requestId,
    door: e.door,
  };
}
