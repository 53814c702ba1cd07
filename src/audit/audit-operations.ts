import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../modules/config/hub-config.js';
import { Db } from '../modules/database/db.js';
import { OperationRegistry, type OperationHandler, type OperationLevel } from '../fhir/engine/operation-registry.js';
import { FhirError } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { InteractionContext } from '../fhir/pipeline/pipeline.js';
import { isAdmin } from './audit-access.js';
import { CLIENT_ID_SYSTEM, HUB_OPERATION_SYSTEM } from './audit-event-builder.js';
import { expandRecord } from './record-dictionary.js';
import { compileAuditSearch, runAuditSearch } from './audit-event-search.js';
import { verifyAuditChain } from './audit-verifier.js';
import { trustedKeys } from './checkpoint-keys.js';

const int = (name: string, n: number) => (Number.isSafeInteger(n) && Math.abs(n) < 2 ** 31 ? { name, valueInteger: n } : { name, valueString: String(n) });

/**
 * `GET /fhir/AuditEvent/$verify` (administrators): walks the whole chain and checks the signed checkpoints. The answer
 * is a Parameters: `result` (boolean), `records`, `lastSeq`, `lastHash`, `checkpoints`, `checkpointedSeq`,
 * `recordsPerSecond`, and one `problem` per finding (kind, position, id, expected, stored, message). Checkpoints kept
 * elsewhere can be passed as `checkpoint=<JWS>` parameters and are checked too.
 */
@Injectable()
export class VerifyOperation implements OperationHandler, OnModuleInit {
  readonly name = 'verify';
  readonly definition = 'urn:hie-hub:OperationDefinition/AuditEvent-verify';
  readonly levels: OperationLevel[] = ['type'];
  readonly resourceTypes = ['AuditEvent'];
  readonly affectsState = false;

  constructor(
    private readonly registry: OperationRegistry,
    private readonly db: Db,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.audit) this.registry.register(this);
  }

  async execute(ix: Interaction): Promise<InteractionResult> {
    if (!isAdmin(ix.principal)) throw new FhirError(403, 'Verifying the audit trail is for administrators', 'forbidden');
    const external = ix.params.filter(([k]) => k === 'checkpoint').map(([, v]) => v);
    const r = await verifyAuditChain(this.db, trustedKeys(this.config.auditKeyFile), external);
    return {
      status: 200,
      resource: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'result', valueBoolean: r.ok },
          int('records', r.records),
          int('lastSeq', r.lastSeq),
          { name: 'lastHash', valueString: r.lastHash },
          int('checkpoints', r.checkpoints),
          int('checkpointedSeq', r.checkpointedSeq),
          { name: 'recordsPerSecond', valueDecimal: r.recordsPerSecond },
          ...r.problems.map((p) => ({
            name: 'problem',
            part: [
              { name: 'kind', valueCode: p.kind },
              int('position', p.position),
              p.id ? { name: 'id', valueString: p.id } : undefined,
              p.expected ? { name: 'expected', valueString: p.expected } : undefined,
              p.stored ? { name: 'stored', valueString: p.stored } : undefined,
              { name: 'message', valueString: p.message },
            ].filter(Boolean),
          })),
        ],
      },
    };
  }
}

/**
 * `GET /fhir/Patient/{id}/$access-log`: who accessed this patient's data, when, through which app and why — for the
 * patient's own token (principal.patient = id) and administrators. A Parameters with one `access` per record, newest
 * first (when, action, interaction, outcome, who, app, address, purposeOfUse, resource types, event), paged with
 * `_count` and `_cursor` (`next` holds the cursor of the next page); `date` filters as in AuditEvent search. The
 * records themselves are not returned: they may name other patients (a search that returned several).
 */
@Injectable()
export class AccessLogOperation implements OperationHandler, OnModuleInit {
  readonly name = 'access-log';
  readonly definition = 'urn:hie-hub:OperationDefinition/Patient-access-log';
  readonly levels: OperationLevel[] = ['instance'];
  readonly resourceTypes = ['Patient'];
  readonly affectsState = false;

  constructor(
    private readonly registry: OperationRegistry,
    private readonly db: Db,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.audit) this.registry.register(this);
  }

  async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const patient = ix.id!;
    if (ix.principal.patient !== patient && !isAdmin(ix.principal)) {
      throw new FhirError(403, "A patient's access log is for that patient and administrators", 'forbidden');
    }
    const params = ix.params.filter(([k]) => k === '_count' || k === '_cursor' || k === 'date');
    const query = compileAuditSearch(params, { defaultCount: 100, maxCount: this.config.maxPageSize, strict: true, patient });
    const { rows, more } = await runAuditSearch(ctx.tx ?? this.db, query);
    const parameter: any[] = rows.map((r) => ({ name: 'access', part: accessParts(JSON.parse(expandRecord(r.content)), patient) }));
    if (more && rows.length) parameter.push({ name: 'next', valueString: rows[rows.length - 1].seq });
    return { status: 200, resource: { resourceType: 'Parameters', parameter } };
  }
}

function accessParts(e: any, patient: string): any[] {
  const parts: any[] = [
    { name: 'when', valueInstant: e.recorded },
    { name: 'action', valueCode: e.action },
    { name: 'interaction', valueCode: e.subtype?.find((s: any) => s.system === HUB_OPERATION_SYSTEM)?.code ?? e.subtype?.[0]?.code ?? e.type?.code },
    { name: 'outcome', valueCode: e.outcome },
  ];
  for (const a of e.agent ?? []) {
    if (a.who?.identifier?.system === CLIENT_ID_SYSTEM) parts.push({ name: 'app', valueString: a.who.identifier.value });
    else if (a.who?.reference) parts.push({ name: 'who', valueReference: { reference: a.who.reference } });
    else if (a.who?.identifier?.value) parts.push({ name: 'who', valueString: a.who.identifier.value });
    else if (a.who?.display) parts.push({ name: 'who', valueString: a.who.display });
    if (a.network?.address) parts.push({ name: 'address', valueString: a.network.address });
    for (const p of a.purposeOfUse ?? []) for (const c of p.coding ?? []) parts.push({ name: 'purposeOfUse', valueCoding: c });
  }
  // which of this patient's data: the resource touched (never another patient's id)
  for (const en of e.entity ?? []) {
    const ref: string | undefined = en.what?.reference;
    if (ref && (!ref.startsWith('Patient/') || ref === `Patient/${patient}`)) parts.push({ name: 'resource', valueString: ref });
  }
  parts.push({ name: 'event', valueReference: { reference: `AuditEvent/${e.id}` } });
  return parts;
}
