import { FhirError, issue, outcome } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { InteractionContext, Next, PipelineStage } from '../fhir/pipeline/pipeline.js';
import type { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';
import type { ConsentFacts } from '../fhir/search/query/consent-condition.js';
import { matchedRulesStatement, patientsStatement } from '../fhir/search/query/consent-condition.js';
import { SqlParams } from '../fhir/search/query/sql-params.js';
import type { SearchEngine } from '../fhir/search/search-engine.js';
import type { Db, Queryable } from '../modules/database/db.js';
import type { ConsentAuditEvent, ConsentAuditRecorder } from './consent-audit.js';
import type { ConsentConfig } from './consent-config.js';
import { ConsentContextReader } from './consent-context.js';
import type { ConsentPolicy } from './consent-policy.js';
import { decide, type BasePolicy, type MatchedRule } from './consent-rules.js';
import { actionsOf, governedByConsent, requesterFacts } from './requester.js';
import { searchedPatients, searchFilterReason } from './search-disclosure.js';

/** Operations that must reach their handler whatever the consents say (they are how access is regained or managed). */
const UNCHECKED_OPERATIONS = new Set(['break-glass', 'break-glass-review', 'consent-policy']);

export interface DenialReason {
  patients: string[];
  /** `Consent/id` of the deciding provisions */
  consents: string[];
  text: string;
}

/**
 * The consent stage: the one decision point for patient consents. For searches (and everything that searches:
 * includes, conditional matches, operations that honour the restriction) it hands the requester's facts to the
 * search engine, which compiles the decision into its SQL; a single resource (read, vread, instance history,
 * update/patch/delete by id, instance operations) is checked with the same SQL before the engine runs. History of
 * a whole type or of the system is refused to principals that consents govern.
 */
export class ConsentStage implements PipelineStage {
  readonly name = 'consent' as const;
  private readonly context: ConsentContextReader;

  constructor(
    private readonly db: Db,
    private readonly config: ConsentConfig,
    private readonly search: SearchEngine,
    private readonly registry: SearchParamRegistry,
    private readonly audit: ConsentAuditRecorder,
  ) {
    this.context = new ConsentContextReader(registry);
  }

  async handle(ix: Interaction, ctx: InteractionContext, next: Next): Promise<InteractionResult> {
    if (!this.config.enabled || ix.kind === 'capabilities' || !governedByConsent(ix.principal)) return next();
    const q = ctx.tx ?? this.db;
    const p = ix.principal;
    const isSearch = ix.kind === 'search-type' || ix.kind === 'search-system' || ix.kind === 'search-compartment';
    const patients = isSearch ? searchedPatients(ix) : [];
    // policy, break-the-glass sessions, roles and the searched patients' denials: one round trip, never cached
    const cx = await this.context.read(q, { principal: p, actions: actionsOf(ix.kind), searchedPatients: patients });
    const policy = cx.policy;
    const btg = p.kind === 'user' && p.userId ? cx.breakGlass : undefined;
    const affiliation = cx.affiliation;
    if (affiliation?.organizations.length) {
      // what the user writes is owned by (the first of) their organizations, as if the token had named it
      ix.principal = { ...ix.principal, organization: affiliation.organizations[0], actingAs: [...(p.actingAs ?? []), ...affiliation.roles] };
    }
    if (btg?.sessions.length) {
      // the marker every audit record of this interaction carries: purpose of use BTG and the sessions
      ix.principal = { ...ix.principal, purposeOfUse: [...new Set([...(p.purposeOfUse ?? []), 'BTG'])], breakGlass: btg };
    }
    const facts = requesterFacts(ix.principal, ix.kind, policy.base, btg?.patients ?? [], affiliation);
    switch (ix.kind) {
      case 'read':
      case 'vread':
      case 'history-instance':
        await this.checkOne(q, ix, facts, policy);
        break;
      case 'update':
      case 'patch':
      case 'delete':
        if (ix.id) await this.checkOne(q, ix, facts, policy);
        ix.restriction = { ...ix.restriction, consent: facts };
        break;
      case 'search-type':
      case 'search-system':
      case 'search-compartment': {
        ix.restriction = { ...ix.restriction, consent: facts };
        const result = await this.passOn(ix, next, btg);
        const reason = searchFilterReason(cx.denials, patients, facts);
        if (reason) await this.audit.record(this.event(ix, 'filtered', reason.patients, reason.consents, reason.text));
        return result;
      }
      case 'history-type':
      case 'history-system':
        throw new FhirError(403, 'History of a whole type or of the system is not available under patient consent; read the history of single resources instead', 'forbidden');
      case 'operation':
        if (UNCHECKED_OPERATIONS.has(ix.operation!)) return next();
        if (ix.resourceType && ix.id) await this.checkOne(q, ix, facts, policy);
        ix.restriction = { ...ix.restriction, consent: facts };
        break;
      default:
        break; // create (ownership is stamped by the writer), batch/transaction (entries come back one by one)
    }
    return this.passOn(ix, next, btg);
  }

  /** Runs the rest of the pipeline; during break-the-glass the access is recorded with the sessions. */
  private async passOn(ix: Interaction, next: Next, btg: { sessions: string[]; patients: string[] } | undefined): Promise<InteractionResult> {
    if (btg?.sessions.length) {
      await this.audit.record(this.event(ix, 'break-glass-access', btg.patients, btg.sessions.map((s) => `urn:uuid:${s}`), 'access during break-the-glass'));
    }
    return next();
  }

  /** Whether the requester may see this one resource; a denial is audited with its reason and answered 403 (or 404). */
  private async checkOne(q: Queryable, ix: Interaction, facts: ConsentFacts, policy: ConsentPolicy): Promise<void> {
    const type = ix.resourceType!;
    const id = ix.id!;
    if (!this.registry.isResourceType(type) || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return; // the engine answers
    const visible = await this.search.matchIds(q, type, `_id=${id}`, 1, { consent: facts });
    if (visible.length) return;
    const exists = await q.query({ name: 'consent_exists', text: 'SELECT 1 FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted', values: [type, id] });
    if (!exists.rows.length) return; // 404/410 from the engine, as for anyone
    const reason = await this.explain(q, type, id, facts);
    await this.audit.record({ ...this.event(ix, 'denied', reason.patients, reason.consents, reason.text), status: policy.hideDenied ? 404 : 403 });
    if (policy.hideDenied) throw FhirError.notFound(`${type}/${id} is not known`);
    throw new FhirError(403, outcome(issue('error', 'forbidden', `Access to ${type}/${id} is denied by patient consent: ${reason.text}`)));
  }

  /** Which provision (or the base policy) denies the resource, per patient whose compartment it is in. */
  async explain(q: Queryable, type: string, id: string, facts: ConsentFacts): Promise<DenialReason> {
    const sql = new SqlParams();
    const text = matchedRulesStatement(sql, this.registry, type, id, facts);
    const res = await q.query(text, sql.values);
    const byPatient = new Map<string, MatchedRule[]>();
    for (const row of res.rows) {
      const list = byPatient.get(row.patient_id) ?? [];
      list.push({ consentId: row.consent_id, provision: row.provision, depth: row.depth, deny: row.deny });
      byPatient.set(row.patient_id, list);
    }
    const patients = await this.patientsOf(q, type, id);
    const reasons: string[] = [];
    const consents: string[] = [];
    for (const patient of patients) {
      if (facts.breakGlassPatients.includes(patient)) continue;
      const verdict = decide(byPatient.get(patient) ?? [], facts.base as BasePolicy);
      if (verdict.permit) continue;
      if (verdict.decidedBy) {
        consents.push(`Consent/${verdict.decidedBy.consentId}`);
        reasons.push(`Consent/${verdict.decidedBy.consentId} ${verdict.decidedBy.provision} (deny) of Patient/${patient}`);
      } else {
        reasons.push(`no provision of Patient/${patient}'s consents permits it (base policy ${facts.base})`);
      }
    }
    return { patients, consents, text: reasons.join('; ') || 'denied by the consent policy' };
  }

  private async patientsOf(q: Queryable, type: string, id: string): Promise<string[]> {
    const sql = new SqlParams();
    const res = await q.query(patientsStatement(sql, this.registry, type, id), sql.values);
    return [...new Set<string>(res.rows.map((r: any) => r.patient_id))];
  }

  event(ix: Interaction, kind: ConsentAuditEvent['kind'], patients: string[], entities: string[], reason: string): ConsentAuditEvent {
    return {
      kind,
      principal: ix.principal,
      patients,
      entities,
      reason,
      interaction: `${ix.kind} ${[ix.resourceType, ix.id].filter(Boolean).join('/')}${ix.operation ? ` $${ix.operation}` : ''}`,
      requestId: ix.requestId,
      door: ix.door,
    };
  }
}
