import type { CapabilityContributor } from '../../fhir/capability/capability-statement.js';
import { ASSOCIATED_DATA } from './associated-provenance.js';
import { BULK_DATA_CAPABILITY, EXPORT_DEFINITIONS } from './export-operation.js';
import { EXPORT_PARAMETERS } from './export-request.js';

/** What `$export` supports of its OperationDefinition, from the lists the kick-off is parsed with. */
export function exportDocumentation(level: 'system' | 'patient' | 'group'): string {
  const params = EXPORT_PARAMETERS.filter((p) => p !== 'patient' || level !== 'system');
  return (
    `Supported parameters: ${params.join(', ')}. includeAssociatedData: ${ASSOCIATED_DATA.join(', ')} (the Provenance whose ` +
    `target is an exported resource, in Provenance files after the others); other values are refused (400), or ignored ` +
    `with a warning under Prefer: handling=lenient.`
  );
}

/**
 * Declares Bulk Data in the CapabilityStatement: it instantiates the Bulk Data capability statement, and `$export`
 * carries the OperationDefinition of its level (the registry knows one definition per operation name) and what of
 * it is supported.
 */
export function bulkCapabilities(): CapabilityContributor {
  return {
    contribute(cs: any): void {
      cs.instantiates = [...new Set([...(cs.instantiates ?? []), BULK_DATA_CAPABILITY])];
      const rest = cs.rest?.[0];
      for (const op of rest?.operation ?? []) {
        if (op.name !== 'export') continue;
        op.definition = EXPORT_DEFINITIONS.system;
        op.documentation = exportDocumentation('system');
      }
      for (const r of rest?.resource ?? []) {
        for (const op of r.operation ?? []) {
          if (op.name !== 'export') continue;
          const level = r.type === 'Patient' ? 'patient' : r.type === 'Group' ? 'group' : undefined;
          if (!level) continue;
          op.definition = EXPORT_DEFINITIONS[level];
          op.documentation = exportDocumentation(level);
        }
      }
    },
  };
}
