import { Injectable } from '@nestjs/common';
import type { Interaction } from '../pipeline/interaction.js';

/**
 * Adjusts a resource that passed validation, just before it is stored (create, update, the result of a patch),
 * knowing who writes it. The consent module stamps the writing organization and sensitivity labels here.
 */
export interface ResourcePreparer {
  readonly name: string;
  prepare(ix: Interaction, resource: any): void;
}

/** The preparers every write runs, registered by their modules at init. */
@Injectable()
export class ResourcePreparers {
  private preparers: ResourcePreparer[] = [];

  register(preparer: ResourcePreparer): void {
    this.preparers = [...this.preparers.filter((p) => p.name !== preparer.name), preparer];
  }

  prepare(ix: Interaction, resource: any): void {
    for (const p of this.preparers) p.prepare(ix, resource);
  }
}
