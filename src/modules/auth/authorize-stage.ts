import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { R4Definitions } from '../../fhir/definitions/r4-definitions.js';
import { OperationRegistry } from '../../fhir/engine/operation-registry.js';
import { FhirError } from '../../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../../fhir/pipeline/interaction.js';
import { FhirPipeline, type InteractionContext, type Next, type PipelineStage } from '../../fhir/pipeline/pipeline.js';
import type { Principal } from '../../fhir/pipeline/principal.js';
import { SearchParameterIndexer } from '../../fhir/search/extract/search-parameter-indexer.js';
import { SearchParamRegistry } from '../../fhir/search/params/search-param-registry.js';
import { SEARCH_ENGINE, type AccessRestriction, type SearchEngine } from '../../fhir/search/search-engine.js';
import { Db, inTransaction, type Queryable } from '../database/db.js';
import { checkSearchReach } from './search-reach.js';
import { clinicalScopes, decide, type ClinicalScope, type Permission, type ScopeDecision } from './smart-scopes.js';

interface Scopes {
  clinical: ClinicalScope[];
  /** unrestricted on every type and permission: nothing to check */
  full: boolean;
}

const forbidden = (msg: string) => new FhirError(403, msg, 'forbidden');

/**
 * The authorize stage: SMART scopes (v1 and v2) decide whether an interaction may run, and for `patient/` scopes
 * restrict it to the context patient's compartment — as `Interaction.restriction`, which the search engine compiles
 * into its SQL (searches, includes, conditional matches), and as a visibility check for one-resource interactions.
 * A resource outside what the scopes reach answers 404 (its existence is not revealed); a type or interaction the
 * scopes do not grant answers 403.
 */
@Injectable()
export class AuthorizeStage implements PipelineStage, OnModuleInit {
  readonly name = 'authorize' as const;
  /** keyed by the scopes array, which the per-request copies of a cached Principal share (parsed once per token) */
  private readonly parsed = new WeakMap<readonly string[], Scopes>();
  /** extracts references of a body to tell its compartment before it is written */
  private readonly indexer: SearchParameterIndexer;

  constructor(
    private readonly pipeline: FhirPipeline,
    private readonly db: Db,
    private readonly operations: OperationRegistry,
    private readonly registry: SearchParamRegistry,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {
    this.indexer = new SearchParameterIndexer(registry);
  }

  onModuleInit(): void {
    this.pipeline.register(this);
  }

  private scopesOf(p: Principal): Scopes {
    let s = this.parsed.get(p.scopes);
    if (!s) {
      const clinical = clinicalScopes(p.scopes);
      const full = (['c', 'r', 'u', 'd', 's'] as Permission[]).every((perm) => {
        const d = decide(clinical.filter((c) => c.resourceType === '*'), '*', perm);
        return d.allowed && !d.patientOnly && !d.queries;
      });
      s = { clinical, full };
      this.parsed.set(p.scopes, s);
    }
    return s;
  }

  async handle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult> {
    if (ix.kind === 'capabilities') return next();
    const scopes = this.scopesOf(ix.principal);
    if (scopes.full) return next();
    const q = ctx.tx ?? this.db;
    const type = ix.resourceType ?? '*';
    switch (ix.kind) {
      case 'read':
      case 'vread':
      case 'history-instance':
        await this.checkVisible(q, ix, this.need(scopes, ix, type, 'r'));
        return next();
      case 'search-type':
      case 'search-compartment': {
        const d = this.need(scopes, ix, type, 's');
        this.restrict(ix, d);
        if (d.queries) ix.params = [...ix.params, ...d.queries[0]];
        checkSearchReach(ix, this.registry, (t) => this.readable(scopes, ix, t, d));
        return next();
      }
      case 'search-system': {
        const types = ix.params.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(',')).filter(Boolean);
        const decisions = (types.length ? types : ['*']).map((t) => this.need(scopes, ix, t, 's'));
        if (decisions.some((d) => d.allowed && d.queries)) throw forbidden('Scopes with query restrictions cover one type at a time: search that type instead of the whole system');
        const d = decisions.find((x) => x.allowed && x.patientOnly) ?? decisions[0];
        this.restrict(ix, d);
        checkSearchReach(ix, this.registry, (t) => this.readable(scopes, ix, t, d));
        return next();
      }
      case 'history-type':
      case 'history-system': {
        const d = this.need(scopes, ix, type, 's');
        if (d.allowed && (d.patientOnly || d.queries)) {
          throw forbidden('History of a whole type or of the system is not available under patient/ or query-restricted scopes; read the history of single resources instead');
        }
        return next();
      }
      case 'create':
        return this.create(ix, next, this.need(scopes, ix, type, 'c'));
      case 'update':
      case 'patch':
        return this.change(ix, ctx, next, this.need(scopes, ix, type, 'u'));
      case 'delete': {
        const d = this.need(scopes, ix, type, 'd');
        this.restrict(ix, d);
        if (d.allowed && d.queries) throw forbidden('Deletes are not allowed under query-restricted scopes');
        if (ix.id) await this.checkVisible(q, ix, d);
        return next();
      }
      case 'batch':
      case 'transaction': {
        // entries come back through this stage one by one; conditional references resolve within what is visible
        const wide = scopes.clinical.some((c) => c.context !== 'patient');
        if (!wide && ix.principal.patient) ix.restriction = { patients: [ix.principal.patient] };
        return next();
      }
      case 'operation':
        return this.operation(ix, q, scopes, next);
    }
    throw forbidden(`${ix.kind} is not allowed`);
  }

  /** The decision, or 403 when the scopes do not grant this permission on this type. */
  private need(scopes: Scopes, ix: Interaction, type: string, perm: Permission): ScopeDecision & { allowed: true } {
    const d = decide(scopes.clinical, type, perm);
    const word = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[perm];
    if (!d.allowed) throw forbidden(`The token's scopes do not allow ${word} on ${type === '*' ? 'every resource type' : type} (${ix.kind})`);
    if (d.patientOnly && !ix.principal.patient) throw forbidden('patient/ scopes need a patient in context, and this token has none');
    return d;
  }

  private readable(scopes: Scopes, ix: Interaction, type: string, main: ScopeDecision): void {
    const d = this.need(scopes, ix, type, 'r');
    if (d.queries) throw forbidden(`${type} is reachable only with query restrictions, which cannot apply to included or chained resources`);
    if (d.patientOnly && main.allowed && !main.patientOnly) throw forbidden(`${type} is reachable only in the patient's compartment; include it in a search under patient/ scopes`);
  }

  private restrict(ix: Interaction, d: ScopeDecision): void {
    if (d.allowed && d.patientOnly) ix.restriction = { patients: [ix.principal.patient!] };
  }

  private restrictionOf(ix: Interaction, d: ScopeDecision): AccessRestriction | undefined {
    return d.allowed && d.patientOnly ? { patients: [ix.principal.patient!] } : undefined;
  }

  /** One resource: within the compartment and matching one scope's query, or it is not there for this caller (404). */
  private async checkVisible(q: Queryable, ix: Interaction, d: ScopeDecision, id = ix.id): Promise<void> {
    if (!d.allowed || (!d.patientOnly && !d.queries) || !id) return;
    const restriction = this.restrictionOf(ix, d);
    this.restrict(ix, d);
    const base = `_id=${encodeURIComponent(id)}`;
    const criteria = d.queries ? d.queries.map((qp) => `${base}&${qp.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`) : [base];
    for (const c of criteria) if ((await this.search.matchIds(q, ix.resourceType!, c, 1, restriction)).length) return;
    throw FhirError.notFound(`${ix.resourceType}/${id} is not known`);
  }

  /** Creates under patient/ scopes must put the new resource in the context patient's compartment. */
  private async create(ix: Interaction, next: Next, d: ScopeDecision): Promise<InteractionResult> {
    if (d.allowed && d.queries) throw forbidden('Creates are not allowed under query-restricted scopes');
    this.restrict(ix, d);
    if (d.allowed && d.patientOnly) this.checkBodyInCompartment(ix, ix.body, ix.principal.patient!);
    return next();
  }

  /**
   * update/patch: the current resource must be visible, and the result must still be in the compartment — checked
   * on the body for updates and, for patches (whose result is only known after applying them), in the write's
   * own transaction after the write, which rolls back if it left the compartment.
   */
  private async change(ix: Interaction, ctx: InteractionContext, next: Next, d: ScopeDecision): Promise<InteractionResult> {
    if (d.allowed && d.queries) throw forbidden('Updates are not allowed under query-restricted scopes');
    if (!d.allowed || !d.patientOnly) return next();
    const q = ctx.tx ?? this.db;
    this.restrict(ix, d);
    if (ix.id) {
      const exists = (await this.search.matchIds(q, ix.resourceType!, `_id=${encodeURIComponent(ix.id)}`, 1)).length > 0;
      if (exists) await this.checkVisible(q, ix, d);
    }
    if (ix.kind === 'update') {
      this.checkBodyInCompartment(ix, ix.body, ix.principal.patient!);
      return next();
    }
    const outer = ctx.tx;
    return inTransaction(this.db, outer, async (tx) => {
      ctx.tx = tx;
      try {
        const result = await next();
        const id = result.location?.split('/')[1] ?? ix.id;
        if (id && !(await this.search.matchIds(tx, ix.resourceType!, `_id=${encodeURIComponent(id)}`, 1, this.restrictionOf(ix, d))).length) {
          throw forbidden(`The patch would move ${ix.resourceType}/${id} out of the patient's compartment`);
        }
        return result;
      } finally {
        ctx.tx = outer;
      }
    });
  }

  private checkBodyInCompartment(ix: Interaction, body: any, patient: string): void {
    const type = ix.resourceType!;
    const codes = R4Definitions.get().compartments.get('Patient')?.resources.get(type);
    if (!codes) return; // not a patient-compartment type: the scope's type decides alone
    if (codes.includes('{def}')) {
      if (ix.kind === 'create' || body?.id !== patient) throw forbidden(`patient/ scopes allow writing only the context patient (Patient/${patient})`);
      return;
    }
    if (!body || typeof body !== 'object' || body.resourceType !== type) return; // the writer rejects it (400)
    let rows;
    try {
      rows = this.indexer.extract(body).reference;
    } catch {
      throw forbidden(`Cannot tell whether this ${type} belongs to Patient/${patient}`);
    }
    const pids = new Set(codes.map((c) => this.registry.get(type, c)?.pid).filter((p): p is number => p !== undefined));
    for (let i = 0; i < rows.pid.length; i++) {
      if (pids.has(rows.pid[i]) && rows.rtype[i] === 'Patient' && rows.tid[i] === patient) return;
    }
    throw forbidden(`patient/ scopes allow writing only resources in the compartment of Patient/${patient}`);
  }

  /**
   * $operations: instance level needs read on the type (update when the operation changes state) and the
   * resource visible; type level the same without a compartment (not under patient/ scopes); system level
   * unrestricted access to every type.
   */
  private async operation(ix: Interaction, q: Queryable, scopes: Scopes, next: Next): Promise<InteractionResult> {
    const handler = this.operations.find(ix.operation ?? '');
    if (!handler) return next(); // the engine answers 404
    const perm: Permission = handler.affectsState ? 'u' : 'r';
    if (!ix.resourceType) {
      const d = this.need(scopes, ix, '*', perm);
      if (d.patientOnly || d.queries) throw forbidden(`System-level $${handler.name} needs unrestricted user/ or system/ access to every type`);
      return next();
    }
    const d = this.need(scopes, ix, ix.resourceType, perm);
    if (ix.id) await this.checkVisible(q, ix, d);
    else if (d.patientOnly || d.queries) throw forbidden(`Type-level $${handler.name} is not available under patient/ or query-restricted scopes`);
    return next();
  }
}
