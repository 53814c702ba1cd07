import { R4Definitions } from '../fhir/definitions/r4-definitions.js';
import type { ResourcePreparer } from '../fhir/engine/resource-preparers.js';
import type { Interaction } from '../fhir/pipeline/interaction.js';
import { WRITING_ORGANIZATION_SYSTEM } from './requester.js';
import type { SensitivityLabeler } from './sensitivity-labeler.js';

/**
 * Before a resource is stored: sensitivity labels from its codes (patient data only: types in the Patient
 * compartment), and the writing-organization tag (from the
 * principal; a client's own tag of that system is dropped unless the hub itself writes, e.g. an import). The store's
 * after-write hook turns the tag into a `resource_owner` row.
 */
export class ConsentWritePreparer implements ResourcePreparer {
  readonly name = 'consent';

  constructor(private readonly labeler: SensitivityLabeler) {}

  prepare(ix: Interaction, resource: any): void {
    // sensitivity is about patient data: a HealthcareService specialised in PTSD is not itself sensitive
    if (R4Definitions.get().compartments.get('Patient')?.resources.has(resource.resourceType)) this.labeler.label(resource);
    const p = ix.principal;
    if (p.kind === 'system' && !p.organization) return; // the hub itself may carry an imported tag over
    const tags: any[] = Array.isArray(resource.meta?.tag) ? resource.meta.tag : [];
    const kept = tags.filter((t) => t?.system !== WRITING_ORGANIZATION_SYSTEM);
    if (p.organization) kept.push({ system: WRITING_ORGANIZATION_SYSTEM, code: p.organization });
    if (kept.length !== tags.length || p.organization) {
      resource.meta ??= {};
      if (kept.length) resource.meta.tag = kept;
      else delete resource.meta.tag;
    }
  }
}
