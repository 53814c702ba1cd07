import { Inject, Injectable, Module, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { OperationRegistry } from '../fhir/engine/operation-registry.js';
import { ResourcePreparers } from '../fhir/engine/resource-preparers.js';
import { FhirModule } from '../fhir/fhir.module.js';
import { FhirPipeline } from '../fhir/pipeline/pipeline.js';
import { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';
import { SEARCH_ENGINE, type SearchEngine } from '../fhir/search/search-engine.js';
import { ResourceWriteHooks } from '../fhir/store/write-hooks.js';
import { Db, type Tx } from '../modules/database/db.js';
import { AuditModule } from '../audit/audit.module.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { HUB_LOGGER } from '../modules/logging/logger.js';
import { BreakGlassSessions } from './break-glass-sessions.js';
import type { Interaction } from '../fhir/pipeline/interaction.js';
import { CONSENT_AUDIT_RECORDER, toAuditTrailEvent, type ConsentAuditEvent, type ConsentAuditRecorder } from './consent-audit.js';
import { CONSENT_CONFIG, loadConsentConfig, type ConsentConfig } from './consent-config.js';
import { consentOperations } from './consent-operations.js';
import { ConsentPolicyStore } from './consent-policy.js';
import { ConsentStage } from './consent-stage.js';
import { ConsentRuleHook, PractitionerRoleGenerationHook, ResourceOwnerHook } from './consent-write-hooks.js';
import { ConsentWritePreparer } from './consent-write-preparer.js';
import { SensitivityLabeler } from './sensitivity-labeler.js';

/** Consent decisions go to the audit trail (in the caller's transaction when there is one) and to the log. */
class AuditedConsentDecisions implements ConsentAuditRecorder {
  constructor(
    private readonly trail: AuditTrail,
    private readonly log?: Logger,
  ) {}

  async record(e: ConsentAuditEvent, tx?: Tx): Promise<void> {
    this.logged(e);
    await this.trail.record(toAuditTrailEvent(e), tx);
  }

  recordWith(ix: Interaction, e: ConsentAuditEvent): void {
    this.logged(e);
    this.trail.recordWith(ix, toAuditTrailEvent(e));
  }

  private logged(e: ConsentAuditEvent): void {
    this.log?.info(
      { consent: e.kind, patients: e.patients, entities: e.entities, user: e.principal.userId ?? e.principal.clientId, requestId: e.requestId },
      `consent ${e.kind}: ${e.interaction ?? ''} ${e.reason}`,
    );
  }
}

/** Wires the consent stage, the write hooks, the labeller and the operations into the FHIR core at start. */
@Injectable()
class ConsentRegistration implements OnModuleInit {
  constructor(
    private readonly db: Db,
    private readonly pipeline: FhirPipeline,
    private readonly operations: OperationRegistry,
    private readonly hooks: ResourceWriteHooks,
    private readonly preparers: ResourcePreparers,
    private readonly registry: SearchParamRegistry,
    private readonly policies: ConsentPolicyStore,
    private readonly sessions: BreakGlassSessions,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
    @Inject(CONSENT_CONFIG) private readonly config: ConsentConfig,
    @Inject(CONSENT_AUDIT_RECORDER) private readonly audit: ConsentAuditRecorder,
  ) {}

  async onModuleInit(): Promise<void> {
    // Consent rules and ownership are kept even with enforcement off, so turning it on needs no rebuild
    this.hooks.register(new ConsentRuleHook());
    this.hooks.register(new ResourceOwnerHook(this.registry.allResourceTypes()));
    this.hooks.register(new PractitionerRoleGenerationHook());
    this.preparers.register(new ConsentWritePreparer(SensitivityLabeler.fromFile(this.config.labelsFile)));
    if (this.config.base !== undefined || this.config.hideDenied !== undefined) {
      await this.policies.set(this.db, { base: this.config.base, hideDenied: this.config.hideDenied });
    }
    for (const op of consentOperations({ db: this.db, config: this.config, sessions: this.sessions, policies: this.policies, audit: this.audit })) {
      this.operations.register(op);
    }
    if (this.config.enabled) {
      this.pipeline.register(new ConsentStage(this.db, this.config, this.search, this.registry, this.audit));
    }
  }
}

/** Consent enforcement and break-the-glass (see README.md in this folder). */
@Module({
  imports: [FhirModule, AuditModule],
  providers: [
    { provide: CONSENT_CONFIG, useFactory: () => loadConsentConfig() },
    { provide: ConsentPolicyStore, useFactory: () => new ConsentPolicyStore() },
    { provide: BreakGlassSessions, useFactory: () => new BreakGlassSessions() },
    {
      provide: CONSENT_AUDIT_RECORDER,
      inject: [AuditTrail, { token: HUB_LOGGER, optional: true }],
      useFactory: (trail: AuditTrail, log?: Logger) => new AuditedConsentDecisions(trail, log),
    },
    ConsentRegistration,
  ],
})
export class ConsentModule {}

