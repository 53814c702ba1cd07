import { Injectable } from '@nestjs/common';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import type { InteractionContext } from '../pipeline/pipeline.js';

export type OperationLevel = 'system' | 'type' | 'instance';

/** A FHIR operation the hub serves, declared by the OperationDefinition it implements. */
export interface OperationHandler {
  /** code without '$' */
  name: string;
  /** canonical URL of the OperationDefinition (listed in the CapabilityStatement) */
  definition: string;
  levels: OperationLevel[];
  /** resource types it applies to at type/instance level; undefined = every type */
  resourceTypes?: string[];
  /** whether GET is allowed (operations that change nothing) */
  affectsState: boolean;
  execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult>;
}

/** Operations register here (from their own modules); the engine dispatches and the CapabilityStatement lists them. */
@Injectable()
export class OperationRegistry {
  private readonly handlers = new Map<string, OperationHandler>();

  register(handler: OperationHandler): void {
    this.handlers.set(handler.name, handler);
  }

  find(name: string): OperationHandler | undefined {
    return this.handlers.get(name);
  }

  all(): OperationHandler[] {
    return [...this.handlers.values()];
  }
}
