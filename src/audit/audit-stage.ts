import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { HUB_CONFIG, type HubConfig } from '../modules/config/hub-config.js';
import { HUB_LOGGER } from '../modules/logging/logger.js';
import type { Tx } from '../modules/database/db.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import { FhirPipeline, type CommitHook, type InteractionContext, type Next, type PipelineStage, type RejectedRequest } from '../fhir/pipeline/pipeline.js';
import { AuditChain } from './audit-chain.js';
import { interactionEvent, rejectedEvent } from './audit-event-builder.js';
import type { AuditEvent } from './audit-record.js';

/** The interaction's own record after the records stages made about it (`Interaction.companionRecords`). */
function withCompanions(ix: Interaction, own: AuditEvent): AuditEvent[] {
  return ix.companionRecords?.length ? [...ix.companionRecords, own] : [own];
}

/** The record of one write, appended in the write's own transaction (run by the writer just before COMMIT). */
class WriteRecord implements CommitHook {
  constructor(
    private readonly chain: AuditChain,
    private readonly ix: Interaction,
    private readonly baseUrl: string,
  ) {}

  beforeCommit(tx: Tx, result: InteractionResult): Promise<void> {
    this.appended = true;
    return this.chain.appendInTx(tx, withCompanions(this.ix, interactionEvent(this.ix, this.baseUrl, { result })));
  }

  appended = false;
}

/**
 * The records of a transaction Bundle: its entries' records are collected while it runs and appended, with the
 * Bundle's own, inside the Bundle's database transaction just before it commits. If it rolls back, they are
 * written afterwards (group commit), marked as rolled back.
 */
class TransactionRecords implements CommitHook {
  /**
   * Each entry's interaction and outcome, in the order they completed. Their records are built when they are
   * appended, not as each entry completes: records kept through a whole Bundle survived the young-generation
   * collections in between, and copying survivors is what garbage collection costs during ingest.
   */
  private readonly done: { ix: Interaction; outcome: { result?: InteractionResult; error?: unknown } }[] = [];
  committed = false;

  constructor(
    private readonly chain: AuditChain,
    private readonly ix: Interaction,
    private readonly baseUrl: string,
  ) {}

  add(ix: Interaction, outcome: { result?: InteractionResult; error?: unknown }): void {
    this.done.push({ ix, outcome });
  }

  /** The entries' records (each outcome with `note` added, e.g. that the transaction rolled back). */
  entries(note?: string): AuditEvent[] {
    return this.done.flatMap(({ ix, outcome }) => withCompanions(ix, interactionEvent(ix, this.baseUrl, outcome, note)));
  }

  async beforeCommit(tx: Tx, result: InteractionResult): Promise<void> {
    await this.chain.appendInTx(tx, [...this.entries(), ...withCompanions(this.ix, interactionEvent(this.ix, this.baseUrl, { result }))]);
    this.committed = true;
  }
}

/**
 * The outermost pipeline stage: exactly one AuditEvent per interaction (bundle entries included), for successful,
 * failed and denied ones alike, committed before the response leaves. Writes commit theirs in their own transaction
 * (through the context's commitHook); everything else is group-committed and awaited.
 */
@Injectable()
export class AuditStage implements PipelineStage, OnModuleInit {
  readonly name = 'audit' as const;

  constructor(
    private readonly pipeline: FhirPipeline,
    private readonly chain: AuditChain,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(HUB_LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    if (!this.config.audit) {
      this.log.warn('!!! HUB_AUDIT=off: interactions are NOT audited. This switch exists only to measure the audit\'s cost (bench/audit.js); never run a hub like this. !!!');
      return;
    }
    this.pipeline.register(this);
  }

  async handle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult> {
    if (ctx.tx && ctx.commitHook instanceof TransactionRecords) return this.inTransactionBundle(ix, ctx, next, ctx.commitHook);
    if (ix.kind === 'transaction') return this.transactionBundle(ix, ctx, next);
    const hook = new WriteRecord(this.chain, ix, ctx.baseUrl);
    let result: InteractionResult;
    try {
      result = await next({ ...ctx, commitHook: hook });
    } catch (error) {
      // the write's transaction (and a record appended in it) rolled back: record the failure
      await this.chain.append(...withCompanions(ix, interactionEvent(ix, ctx.baseUrl, { error })));
      throw error;
    }
    if (!hook.appended) await this.chain.append(...withCompanions(ix, interactionEvent(ix, ctx.baseUrl, { result })));
    return result;
  }

  /** A request the door refused before it became an interaction (unknown type, malformed, unauthenticated). */
  rejected(request: RejectedRequest): Promise<void> {
    return this.chain.append(rejectedEvent(request));
  }

  /** An entry of a transaction Bundle: its record joins the Bundle's, committed with the Bundle's transaction. */
  private async inTransactionBundle(ix: Interaction, ctx: InteractionContext, next: Next, records: TransactionRecords): Promise<InteractionResult> {
    try {
      const result = await next(ctx);
      records.add(ix, { result });
      return result;
    } catch (error) {
      records.add(ix, { error });
      throw error;
    }
  }

  private async transactionBundle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult> {
    const records = new TransactionRecords(this.chain, ix, ctx.baseUrl);
    try {
      const result = await next({ ...ctx, commitHook: records });
      if (!records.committed) await this.chain.append(...records.entries(), ...withCompanions(ix, interactionEvent(ix, ctx.baseUrl, { result })));
      return result;
    } catch (error) {
      await this.chain.append(...records.entries('rolled back with the transaction'), ...withCompanions(ix, interactionEvent(ix, ctx.baseUrl, { error })));
      throw error;
    }
  }
}
