import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Db } from '../../modules/database/db.js';
import { R4Definitions, readDefinitionBundle } from '../definitions/r4-definitions.js';
import { OperationRegistry, type OperationHandler } from '../engine/operation-registry.js';
import { FhirError, outcome, type OutcomeIssue } from '../operation-outcome.js';
import type { Interaction, InteractionResult } from '../pipeline/interaction.js';
import type { InteractionContext } from '../pipeline/pipeline.js';
import { SEARCH_ENGINE, type SearchEngine } from '../search/search-engine.js';
import { ResourceStore } from '../store/resource-store.js';
import { ResourceValidator } from './resource-validator.js';

/**
 * `$validate` (http://hl7.org/fhir/OperationDefinition/Resource-validate) at type and instance level. The body is
 * the resource itself or a Parameters with `resource`, `mode` and `profile`; GET on an instance validates the stored
 * version. The answer is always 200 with an OperationOutcome listing every issue (information "All OK" when none).
 */
@Injectable()
export class ValidateOperation implements OperationHandler, OnModuleInit {
  readonly name = 'validate';
  readonly definition = 'http://hl7.org/fhir/OperationDefinition/Resource-validate';
  readonly levels = ['type', 'instance'] as const as any;
  readonly affectsState = false;

  constructor(
    private readonly registry: OperationRegistry,
    private readonly validator: ResourceValidator,
    private readonly store: ResourceStore,
    private readonly db: Db,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    const q = ctx.tx ?? this.db;
    let resource: any;
    let profileUrl = ix.params.find(([k]) => k === 'profile')?.[1];
    let mode = ix.params.find(([k]) => k === 'mode')?.[1];
    const body = ix.body as any;
    if (body?.resourceType === 'Parameters') {
      for (const p of body.parameter ?? []) {
        if (p.name === 'resource') resource = p.resource;
        else if (p.name === 'profile') profileUrl = p.valueUri ?? p.valueCanonical ?? p.valueString;
        else if (p.name === 'mode') mode = p.valueCode ?? p.valueString;
      }
    } else if (body !== undefined) {
      resource = body;
    }
    if (mode === 'delete') return { status: 200, resource: outcome({ severity: 'information', code: 'informational', diagnostics: 'All OK' }) };
    if (resource === undefined && ix.id) {
      const stored = await this.store.read(q, ix.resourceType!, ix.id);
      if (!stored || stored.deleted) throw FhirError.notFound(`${ix.resourceType}/${ix.id} is not known`);
      resource = JSON.parse(stored.json!);
    }
    if (resource === undefined) throw FhirError.badRequest('$validate needs a resource (as the body or the "resource" parameter)');
    const issues: OutcomeIssue[] = [];
    if (ix.resourceType && resource?.resourceType !== ix.resourceType) {
      issues.push({ severity: 'error', code: 'invalid', diagnostics: `resourceType "${String(resource?.resourceType)}" does not match "${ix.resourceType}"` });
    }
    if (ix.id && resource?.id !== undefined && resource.id !== ix.id) {
      issues.push({ severity: 'error', code: 'invalid', diagnostics: `Resource id "${resource.id}" does not match the URL id "${ix.id}"` });
    }
    const profile = profileUrl ? await this.findProfile(q, profileUrl) : undefined;
    issues.push(...this.validator.validate(resource, profile));
    if (!issues.length) issues.push({ severity: 'information', code: 'informational', diagnostics: 'All OK' });
    return { status: 200, resource: outcome(...issues) };
  }

  /** A profile is an R4 core StructureDefinition (base types or core profiles such as vitalsigns) or one stored in the hub. */
  private async findProfile(q: any, url: string): Promise<any> {
    const canonical = url.split('|')[0];
    const core = R4Definitions.get().structureDefinitions.get(canonical) ?? coreProfile(canonical);
    if (core) return core;
    const ids = await this.search.matchIds(q, 'StructureDefinition', `url=${encodeURIComponent(canonical)}`, 1);
    if (ids.length) {
      const stored = await this.store.read(q, 'StructureDefinition', ids[0]);
      if (stored?.json) return JSON.parse(stored.json);
    }
    throw FhirError.badRequest(`Profile ${url} is not known to this server`, 'not-found');
  }
}

let coreProfiles: Map<string, any> | undefined;

/** The profiles the R4 specification itself defines (vitalsigns, bodyweight, ...), read on first use. */
function coreProfile(url: string): any {
  coreProfiles ??= new Map(
    readDefinitionBundle('profiles-others.json')
      .entry.map((e: any) => e.resource)
      .filter((r: any) => r?.resourceType === 'StructureDefinition' && r.fhirVersion === '4.0.1' && r.snapshot)
      .map((r: any) => [r.url, r]),
  );
  return coreProfiles.get(url);
}
