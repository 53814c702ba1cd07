import { Injectable, OnModuleInit } from '@nestjs/common';
import { CapabilityStatementBuilder, type CapabilityContributor } from '../fhir/capability/capability-statement.js';
import { AUDIT_SEARCH_PARAMS } from './audit-event-search.js';

/** AuditEvent in the CapabilityStatement: read and search only, with the parameters the audit table serves. */
@Injectable()
export class AuditCapabilities implements CapabilityContributor, OnModuleInit {
  constructor(private readonly builder: CapabilityStatementBuilder) {}

  onModuleInit(): void {
    this.builder.addContributor(this);
  }

  contribute(cs: any): void {
    const entry = cs.rest?.[0]?.resource?.find((r: any) => r.type === 'AuditEvent');
    if (!entry) return;
    entry.interaction = [{ code: 'read' }, { code: 'search-type' }];
    entry.versioning = 'no-version';
    entry.readHistory = false;
    entry.updateCreate = false;
    entry.conditionalCreate = false;
    entry.conditionalUpdate = false;
    entry.conditionalDelete = 'not-supported';
    entry.searchParam = AUDIT_SEARCH_PARAMS.map(([name, type]) => ({ name, type }));
    entry.documentation = 'Served from the hash-chained audit trail: written by the hub only (create/update/patch/delete are 405).';
  }
}
