import { Injectable } from '@nestjs/common';
import type { Tx } from '../../modules/database/db.js';
import type { PreparedCreate } from '../store/resource-store.js';
import type { Interaction, InteractionResult } from './interaction.js';

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
}

export type Next = () => Promise<InteractionResult>;

/** One step every interaction passes through, in the order below; it may decide, enrich, or record. */
export interface PipelineStage {
  readonly name: StageName;
  handle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult>;
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

  execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const executor = this.executor;
    if (!executor) throw new Error('FHIR pipeline has no engine');
    const run = (i: number): Promise<InteractionResult> =>
      i < this.stages.length ? this.stages[i].handle(ix, ctx, () => run(i + 1)) : executor.execute(ix, ctx, this);
    return run(0);
  }
}
