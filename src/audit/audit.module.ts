import { Module } from '@nestjs/common';
import { FhirModule } from '../fhir/fhir.module.js';
import { AuthModule } from '../modules/auth/auth.module.js';
import { AuthEventRecorder } from './auth-event-recorder.js';
import { AuditCapabilities } from './audit-capabilities.js';
import { AuditChain } from './audit-chain.js';
import { AuditEventProvider } from './audit-event-provider.js';
import { AccessLogOperation, VerifyOperation } from './audit-operations.js';
import { AuditStage } from './audit-stage.js';
import { AuditTrail } from './audit-trail.js';
import { CheckpointSigner } from './checkpoint-signer.js';

/** The hash-chained audit trail: pipeline stage, AuditEvent read/search, $verify, $access-log, checkpoints. */
@Module({
  imports: [FhirModule, AuthModule],
  providers: [AuditChain, AuditStage, AuditEventProvider, VerifyOperation, AccessLogOperation, CheckpointSigner, AuditTrail, AuditCapabilities, AuthEventRecorder],
  exports: [AuditTrail],
})
export class AuditModule {}
