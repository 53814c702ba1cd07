import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../modules/config/hub-config.js';
import { Db, type Queryable } from '../modules/database/db.js';
import { ResourceTypeProviders, type ResourceTypeProvider } from '../fhir/engine/resource-type-providers.js';
import { FhirError } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult, QueryParams } from '../fhir/pipeline/interaction.js';
import type { InteractionContext } from '../fhir/pipeline/pipeline.js';
import { mayReadAudit } from './audit-access.js';
import { compileAuditSearch, runAuditSearch } from './audit-event-search.js';
import { expandRecord } from './record-dictionary.js';
import { bundleText, entryText } from '../fhir/bundle/bundle-text.js';

/**
 * Serves `/fhir/AuditEvent` from the audit trail's own table: read and search for administrators and auditors;
 * create, update, patch and delete are 405 for everyone (records are written by the pipeline only), history too
 * (a record never changes).
 */
@Injectable()
export class AuditEventProvider implements ResourceTypeProvider, OnModuleInit {
  readonly resourceType = 'AuditEvent';

  constructor(
    private readonly providers: ResourceTypeProviders,
    private readonly db: Db,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  onModuleInit(): void {
    this.providers.register(this);
  }

  async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
    switch (ix.kind) {
      case 'create':
      case 'update':
      case 'patch':
      case 'delete':
        throw FhirError.methodNotAllowed(`AuditEvent is written by the hub's audit trail only; ${ix.kind} through the API is not allowed`);
      case 'history-instance':
      case 'history-type':
        throw FhirError.methodNotAllowed('AuditEvent has no history: an audit record never changes');
    }
    if (!mayReadAudit(ix.principal)) throw new FhirError(403, 'Reading the audit trail needs an administrator or audit scope', 'forbidden');
    const q = ctx.tx ?? this.db;
    if (ix.kind === 'read' || ix.kind === 'vread') {
      if (ix.kind === 'vread' && ix.versionId !== '1') throw FhirError.notFound(`AuditEvent/${ix.id}/_history/${ix.versionId} is not known`);
      const res = await q.query({ name: 'audit_read', text: 'SELECT content FROM audit_event WHERE id = $1', values: [ix.id] });
      if (!res.rows.length) throw FhirError.notFound(`AuditEvent/${ix.id} is not known`);
      return { status: 200, resourceJson: expandRecord(res.rows[0].content) };
    }
    if (ix.kind === 'search-type' || ix.kind === 'search-compartment') {
      const patient = ix.compartment?.type === 'Patient' ? ix.compartment.id : undefined;
      if (ix.compartment && !patient) throw FhirError.badRequest(`AuditEvent is searched in the Patient compartment only`);
      return { status: 200, resourceJson: await this.searchBundle(q, ix.params, ctx.baseUrl, ix.prefer.handling === 'strict', patient, ix.compartment ? `Patient/${patient}/AuditEvent` : 'AuditEvent') };
    }
    throw FhirError.methodNotAllowed(`${ix.kind} is not supported on AuditEvent`);
  }

  /** A searchset Bundle built as text around the stored event texts (no parse, no re-serialisation). */
  async searchBundle(q: Queryable, params: QueryParams, baseUrl: string, strict: boolean, patient: string | undefined, path: string): Promise<string> {
    const query = compileAuditSearch(params, { defaultCount: this.config.defaultPageSize, maxCount: this.config.maxPageSize, strict, patient });
    const { rows, more, total } = await runAuditSearch(q, query);
    const keep = params.filter(([k]) => k !== '_cursor');
    const url = (cursor?: string) => {
      const all: [string, string][] = cursor ? [...keep, ['_cursor', cursor]] : keep;
      return `${baseUrl}/${path}${all.length ? '?' : ''}${all.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
    };
    const link: any[] = [{ relation: 'self', url: url(query.cursor) }];
    if (more && rows.length) link.push({ relation: 'next', url: url(rows[rows.length - 1].seq) });
    const head = { resourceType: 'Bundle', type: 'searchset', meta: { lastUpdated: new Date().toISOString() }, total, link };
    return bundleText(head, rows.map((r) => entryText(`${baseUrl}/AuditEvent/${r.id}`, expandRecord(r.content), 'match')));
  }
}
