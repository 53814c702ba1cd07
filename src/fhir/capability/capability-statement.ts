import { Injectable } from '@nestjs/common';
import { R4Definitions } from '../definitions/r4-definitions.js';
import { OperationRegistry } from '../engine/operation-registry.js';

/** Contributes to the CapabilityStatement (search parameters per type, security, instantiates ...). */
export interface CapabilityContributor {
  contribute(cs: any): void;
}

/**
 * The CapabilityStatement, generated from what is registered: every R4 resource type with the interactions the
 * engine serves, the search parameters the search engine indexes, and the registered operations.
 */
@Injectable()
export class CapabilityStatementBuilder {
  private readonly contributors: CapabilityContributor[] = [];

  constructor(private readonly operations: OperationRegistry) {}

  addContributor(c: CapabilityContributor): void {
    this.contributors.push(c);
  }

  /** Built on every request (a few ms): custom SearchParameters and other registrations show at once. */
  build(baseUrl: string): any {
    const defs = R4Definitions.get();
    const ops = this.operations.all();
    const resource = [...defs.resourceTypes].sort().map((type) => ({
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'].map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'full-support',
      conditionalUpdate: true,
      conditionalDelete: 'multiple',
      referencePolicy: ['literal', 'logical', 'local'],
      searchParam: [] as any[],
      operation: ops
        .filter((o) => (o.levels.includes('type') || o.levels.includes('instance')) && (!o.resourceTypes || o.resourceTypes.includes(type)))
        .map((o) => ({ name: o.name, definition: o.definition })),
    }));
    const cs: any = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'HIE hub',
      kind: 'instance',
      software: { name: 'HIE hub', version: process.env.npm_package_version ?? '0.1.0' },
      implementation: { description: 'HIE hub FHIR R4 server', url: baseUrl },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      patchFormat: ['application/json-patch+json', 'application/fhir+json'],
      rest: [
        {
          mode: 'server',
          resource,
          interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }, { code: 'history-system' }],
          operation: ops.filter((o) => o.levels.includes('system')).map((o) => ({ name: o.name, definition: o.definition })),
        },
      ],
    };
    for (const c of this.contributors) c.contribute(cs);
    return cs;
  }
}
