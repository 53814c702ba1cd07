import { Injectable } from '@nestjs/common';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import type { InteractionContext } from '../pipeline/pipeline.js';

/**
 * A resource type whose RESTful interactions another module serves instead of the versioned store (AuditEvent:
 * the audit trail's own append-only table). Operations on the type still go through the OperationRegistry.
 */
export interface ResourceTypeProvider {
  readonly resourceType: string;
  execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult>;
}

@Injectable()
export class ResourceTypeProviders {
  private readonly providers = new Map<string, ResourceTypeProvider>();

  register(provider: ResourceTypeProvider): void {
    this.providers.set(provider.resourceType, provider);
  }

  /** The provider serving this interaction, if its resource type has one (operations and capabilities excepted). */
  forInteraction(ix: Interaction): ResourceTypeProvider | undefined {
    if (!ix.resourceType || ix.kind === 'operation' || ix.kind === 'capabilities' || !this.providers.size) return undefined;
    return this.providers.get(ix.resourceType);
  }
}
