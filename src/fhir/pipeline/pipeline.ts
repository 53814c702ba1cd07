import { Injectable } from '@nestjs/common';
import type { Tx } from '../../modules/database/db.js';
import type { PreparedCreate } from '../store/resource-store.js';
import type { Interaction, InteractionResult } from './interaction.js';
import type { Principal } from './principal.js';

/** Per-request facts the stages share. */
export interface InteractionContext {
  /** the enclosing database transaction (a transaction Bundle's), when there is one */
  tx?: Tx;
  /** absolute FHIR base URL, e.g. http://localhost:8080/fhir */
  baseUrl: string;
  /**
   * Creates collected here are written together when the collector is flushed (a transaction Bundle's POST
   * phase); each create is still validated, authorized and audited one by one.
   */
  createBatch?: PreparedCreate[];
  /**
   * Work that must commit in the same database transaction as this interaction's writes (its audit record). Whoever
   * opens the transaction that carries the writes runs it just before COMMIT (see src/audit).
   */
  commitHook?: CommitHook;
}

export interface CommitHook {
  beforeCommit(tx: Tx, result: InteractionResult): Promise<void>;
}

/** Calls the next stage; a stage may hand it a context of its own (e.g. with a commitHook). */
export type Next = (ctx?: InteractionContext) => Promise<InteractionResult>;

/** One step every interaction passes through, in the order below; it may decide, enrich, or record. */
export interface PipelineStage {
  readonly name: StageName;
  handle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult>;
  /** Sees the requests a door refused before they became an interaction (the audit stage records them). */
  rejected?(request: RejectedRequest): Promise<void>;
}

/** A request a door refused before it became an interaction: unparseable (unknown type, bad id) or unauthenticated (401). */
export interface RejectedRequest {
  door: string;
  method: string;
  /** path relative to the FHIR base, with the query string */
  path: string;
  principal?: Principal;
  requestId?: string;
  error: unknown;
  baseUrl: string;
}

/**
 * The order of the stages, outermost first. Audit wraps the others so that denied and failed requests are
 * recorded too; authorize (scopes → compartment) runs before consent; the engine is the innermost step.
 * Authentication happens in the door (it turns a token into the Principal carried by the interaction).
 */
export const STAGE_ORDER = ['audit', 'authorize', 'consent'] as const;
export type StageName = (typeof STAGE_ORDER)[number];

/** What executes an interaction once every stage has let it through (the FHIR engine). */
export interface InteractionExecutor {
  execute(ix: Interaction, ctx: InteractionContext, pipeline: FhirPipeline): Promise<InteractionResult>;
}

@Injectable()
export class FhirPipeline {
  private stages: PipelineStage[] = [];
  private executor?: InteractionExecutor;

  setExecutor(executor: InteractionExecutor): void {
    this.executor = executor;
  }

  /** Stages register themselves at module init; they always run in STAGE_ORDER whatever the registration order. */
  register(stage: PipelineStage): void {
    this.stages = [...this.stages.filter((s) => s.name !== stage.name), stage].sort(
      (x, y) => STAGE_ORDER.indexOf(x.name) - STAGE_ORDER.indexOf(y.name),
    );
  }

  get stageNames(): string[] {
    return this.stages.map((s) => s.name);
  }

  /** Tells the stages about a refused request; resolves when they are done (the audit record is committed). */
  async rejected(request: RejectedRequest): Promise<void> {
    for (const s of this.stages) await s.rejected?.(request);
  }

  execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const executor = this.executor;
    if (!executor) throw new Error('FHIR pipeline has no engine');
    const run = (i: number, c: InteractionContext): Promise<InteractionResult> =>
      i < this.stages.length ? this.stages[i].handle(ix, c, (next = c) => run(i + 1, next)) : executor.execute(ix, c, this);
    return run(0, ctx);
  }
}
