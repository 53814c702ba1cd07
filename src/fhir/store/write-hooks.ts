import { Injectable } from '@nestjs/common';
import type { Tx } from '../../modules/database/db.js';
import type { StoredVersion } from './stored-resource.js';

/** A write the store has just made, inside its transaction. */
export interface WrittenResource {
  stored: StoredVersion;
  /** the resource as stored; undefined for a delete */
  resource?: any;
}

/**
 * Work another module must do in the same transaction as writes of some resource types (the master patient index
 * links Patients). A hook that throws fails the write: nothing of it is committed.
 */
export interface ResourceWriteHook {
  readonly name: string;
  readonly resourceTypes: readonly string[];
  afterWrite(tx: Tx, writes: WrittenResource[]): Promise<void>;
}

/** The hooks the resource store runs after every create, update and delete, per resource type. */
@Injectable()
export class ResourceWriteHooks {
  private readonly byType = new Map<string, ResourceWriteHook[]>();

  register(hook: ResourceWriteHook): void {
    for (const t of hook.resourceTypes) this.byType.set(t, [...(this.byType.get(t) ?? []).filter((h) => h.name !== hook.name), hook]);
  }

  async run(tx: Tx, writes: WrittenResource[]): Promise<void> {
    if (!this.byType.size) return;
    for (const [type, hooks] of this.byType) {
      const mine = writes.filter((w) => w.stored.resourceType === type);
      if (mine.length) for (const h of hooks) await h.afterWrite(tx, mine);
    }
  }
}
