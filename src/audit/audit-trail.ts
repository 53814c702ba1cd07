import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../modules/config/hub-config.js';
import type { Tx } from '../modules/database/db.js';
import type { Interaction } from '../fhir/pipeline/interaction.js';
import type { Principal } from '../fhir/pipeline/principal.js';
import { AuditChain } from './audit-chain.js';
import { agentsOf, outcomeCode, patientEntity, requestEntity, sourceOf } from './audit-event-builder.js';
import type { AuditEvent } from './audit-record.js';

export interface Coding {
  system?: string;
  code: string;
  display?: string;
}

/** An event from outside the FHIR pipeline (token issuance or failure, login, consent decision, break-the-glass). */
export interface AuditTrailEvent {
  /** AuditEvent.type, e.g. DCM 110114 "User Authentication" */
  type: Coding;
  /** AuditEvent.subtype, e.g. DCM 110122 "Login" */
  subtype?: Coding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  /** an HTTP-like status (mapped to outcome 0/4/8) or the outcome code itself */
  status?: number;
  outcome?: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  /** who acted (user, client app, network address); absent for the hub itself */
  principal?: Partial<Principal> & Pick<Principal, 'kind'>;
  /** patient ids (without "Patient/") whose data the event concerns */
  patients?: string[];
  /** other resources concerned, as references (`Consent/12`) */
  entities?: string[];
  requestId?: string;
  /** where the event happened, e.g. 'oauth' */
  door?: string;
}

// DICOM's code system, for the event types of records made outside the FHIR pipeline
export { DCM } from './record-dictionary.js';

/**
 * The audit trail for modules outside the FHIR pipeline: `record(event)` appends one AuditEvent to the hash chain and
 * resolves when it is committed — or, given the caller's transaction, commits with it.
 */
@Injectable()
export class AuditTrail {
  constructor(
    private readonly chain: AuditChain,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  async record(event: AuditTrailEvent, tx?: Tx): Promise<AuditEvent | undefined> {
    if (!this.config.audit) return undefined;
    const audit = this.build(event);
    if (tx) await this.chain.appendInTx(tx, [audit]);
    else await this.chain.append(audit);
    return audit;
  }

  /**
   * An event about an interaction in the FHIR pipeline: committed with the interaction's own record by the audit
   * stage (the pipeline's outermost stage, so it has not recorded yet), at no extra commit.
   */
  recordWith(ix: Interaction, event: AuditTrailEvent): void {
    if (!this.config.audit) return;
    ix.companionRecords = [...(ix.companionRecords ?? []), this.build(event)];
  }

  private build(event: AuditTrailEvent): AuditEvent {
    const entity: any[] = [
      ...(event.entities ?? []).map((ref) => ({ what: { reference: ref } })),
      ...(event.patients ?? []).map((id) => patientEntity(`Patient/${id}`)),
    ];
    if (event.requestId) entity.push(requestEntity(event.requestId, event.door ?? 'other'));
    const audit: AuditEvent = {
      action: event.action,
      agent: agentsOf(event.principal as Principal | undefined),
      entity: entity.length ? entity : undefined,
      id: randomUUID(),
      outcome: event.outcome ?? outcomeCode(event.status ?? 200),
      outcomeDesc: event.outcomeDesc,
      recorded: new Date().toISOString(),
      resourceType: 'AuditEvent',
      source: sourceOf(this.config.fhirBaseUrl),
      subtype: event.subtype?.length ? event.subtype : undefined,
      type: event.type,
    };
    return audit;
  }
}
