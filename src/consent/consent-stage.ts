import { FhirError, issue, outcome } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { InteractionContext, Next, PipelineStage } from '../fhir/pipeline/pipeline.js';
import type { SearchParamRegistry } from '../fhir/search/params/search-param-registry.js';
import type { ConsentFacts, LiveFacts } from '../fhir/search/query/consent-condition.js';
import { matchedRulesStatement, patientsStatement } from '../fhir/search/query/consent-condition.js';
import { SqlParams } from '../fhir/search/query/sql-params.js';
import type { SearchEngine } from '../fhir/search/search-engine.js';
import type { Db, Queryable } from '../modules/database/db.js';
import type { ConsentAuditEvent, ConsentAuditRecorder } from './consent-audit.js';
import type { ConsentConfig } from './consent-config.js';
import { ConsentContextReader, liveFactsOf, parseContext, parseDenials, type ConsentContext } from './consent-context.js';
import { ConsentFactsCache, type ValidatedContext } from './consent-facts-cache.js';
import type { ConsentPolicy } from './consent-policy.js';
import { decide, type BasePolicy, type MatchedRule } from './consent-rules.js';
import { governedByConsent, requesterFacts } from './requester.js';
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
  private readonly kept = new ConsentFactsCache();

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
    // facts read inside a transaction are not kept: they may hold its own uncommitted changes, and a generation
    // number it took could, after a rollback, be taken again by another change (kept facts come from committed states)
    const keep = !ctx.tx;
    const own = requesterFacts(ix.principal, ix.kind, 'opt-out', []);
    if (ix.kind === 'search-type' || ix.kind === 'search-system' || ix.kind === 'search-compartment') return this.searchWith(ix, q, own, next, keep);
    const liveFacts = liveFactsOf(ix.principal, []);
    if (ix.kind === 'read' || ix.kind === 'vread' || ix.kind === 'history-instance') {
      const done = await this.readWithKept(ix, q, liveFacts, next);
      if (done) return done;
    }
    // policy, break-the-glass sessions and roles: one round trip, read live (and kept for the requester's next requests)
    const cx = await this.context.read(q, { ...own, live: liveFacts });
    if (keep) this.kept.put(liveFacts, cx);
    const { facts, btg } = this.mark(ix, cx);
    const policy = cx.policy;
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

  /**
   * A search reads the requester's facts in its own statement (live facts: no round trip before it) and returns what
   * it read; with that the interaction gets its break-the-glass marker and its `filtered` record afterwards (the
   * audit stage, outside this one, records the interaction after that). When the search failed before its
   * statement ran, the context is read here instead, so the records are the same. Facts read live are kept for the
   * requester's next searches, which decide with them and check in the same statement that they still hold
   * (consent-facts-cache.ts); when they no longer do, the search is decided again with live facts.
   */
  private async searchWith(ix: Interaction, q: Queryable, own: ConsentFacts, next: Next, keep: boolean): Promise<InteractionResult> {
    const patients = searchedPatients(ix);
    let observed: unknown;
    const live: LiveFacts = { ...liveFactsOf(ix.principal, patients), report: (c) => (observed = c) };
    const kept = this.kept.get(live);
    let run: Settled | undefined;
    if (kept) {
      // decided with the facts kept for this requester; the statement tells whether they still held
      const { principal, restriction } = ix;
      const { facts, btg } = this.mark(ix, kept);
      let seen: ValidatedContext | undefined;
      ix.restriction = { ...restriction, consent: { ...facts, validated: { patients, report: (c) => (seen = c as ValidatedContext) } } };
      const tried = await settle(next);
      if (ConsentFactsCache.held(kept, seen)) return this.searched(ix, { ...kept, denials: parseDenials(seen.denials) }, facts, btg, patients, tried);
      // they did not (or the statement never ran): forget them; the result is decided again with live facts, an
      // error is the answer as it is (not run again: in a transaction, a second run would only meet the abort)
      this.kept.forget(live);
      ix.principal = principal;
      ix.restriction = restriction;
      if ('failure' in tried) run = tried;
    }
    if (!run) {
      ix.restriction = { ...ix.restriction, consent: { ...own, live } };
      run = await settle(next);
    }
    let cx: ConsentContext;
    try {
      cx = observed ? parseContext(observed, live) : await this.context.read(q, { ...own, live });
    } catch (e) {
      throw 'failure' in run ? run.failure : e; // e.g. a failed statement aborted the transaction: the search's own error is the answer
    }
    if (keep) this.kept.put(live, cx);
    const { facts, btg } = this.mark(ix, cx);
    return this.searched(ix, cx, facts, btg, patients, run);
  }

  /** After a search: its break-the-glass and `filtered` records, then its result (or its error). */
  private searched(ix: Interaction, cx: ConsentContext, facts: ConsentFacts, btg: { sessions: string[]; patients: string[] } | undefined, patients: string[], run: Settled): InteractionResult {
    if (btg?.sessions.length) {
      this.audit.recordWith(ix, this.event(ix, 'break-glass-access', btg.patients, btg.sessions.map((s) => `urn:uuid:${s}`), 'access during break-the-glass'));
    }
    if ('failure' in run) throw run.failure;
    const reason = searchFilterReason(cx.denials, patients, facts);
    if (reason) this.audit.recordWith(ix, this.event(ix, 'filtered', reason.patients, reason.consents, reason.text));
    return run.result;
  }

  /**
   * The principal as the context makes it: a user without an organization acts for their PractitionerRoles'
   * organizations; during break-the-glass every audit record of the interaction carries purpose of use BTG and the
   * sessions. Returns the requester's facts for the decision and the user's sessions.
   */
  private mark(ix: Interaction, cx: ConsentContext): { facts: ConsentFacts; btg?: { sessions: string[]; patients: string[] } } {
    const p = ix.principal;
    const btg = p.kind === 'user' && p.userId ? cx.breakGlass : undefined;
    const affiliation = cx.affiliation;
    if (affiliation?.organizations.length) {
      // what the user writes is owned by (the first of) their organizations, as if the token had named it
      ix.principal = { ...ix.principal, organization: affiliation.organizations[0], actingAs: [...(p.actingAs ?? []), ...affiliation.roles] };
    }
    if (btg?.sessions.length) {
      ix.principal = { ...ix.principal, purposeOfUse: [...new Set([...(p.purposeOfUse ?? []), 'BTG'])], breakGlass: btg };
    }
    return { facts: requesterFacts(ix.principal, ix.kind, cx.policy.base, btg?.patients ?? [], affiliation), btg };
  }

  /** Runs the rest of the pipeline; during break-the-glass the access is recorded with the sessions. */
  private async passOn(ix: Interaction, next: Next, btg: { sessions: string[]; patients: string[] } | undefined): Promise<InteractionResult> {
    if (btg?.sessions.length) {
      this.audit.recordWith(ix, this.event(ix, 'break-glass-access', btg.patients, btg.sessions.map((s) => `urn:uuid:${s}`), 'access during break-the-glass'));
    }
    return next();
  }

  /**
   * A read of one resource decided with the requester's kept facts: one statement checks the resource and tells
   * whether the facts still hold (no round trip for the facts). Undefined when there are none, or they no longer
   * hold (then forgotten, the principal unmarked): the read is decided with live facts.
   */
  private async readWithKept(ix: Interaction, q: Queryable, live: LiveFacts, next: Next): Promise<InteractionResult | undefined> {
    const kept = this.kept.get(live);
    if (!kept || !this.checkable(ix)) return undefined;
    const { principal } = ix;
    const { facts, btg } = this.mark(ix, kept);
    let seen: ValidatedContext | undefined;
    const visible = await this.search.matchIds(q, ix.resourceType!, `_id=${ix.id}`, 1, { consent: { ...facts, validated: { patients: [], report: (c) => (seen = c as ValidatedContext) } } });
    if (!ConsentFactsCache.held(kept, seen)) {
      this.kept.forget(live);
      ix.principal = principal;
      return undefined;
    }
    if (!visible.length) await this.refuse(q, ix, facts, kept.policy);
    return this.passOn(ix, next, btg);
  }

  /** Whether the stage checks this one resource (a resource type and an id; otherwise the engine answers). */
  private checkable(ix: Interaction): boolean {
    return this.registry.isResourceType(ix.resourceType ?? '') && /^[A-Za-z0-9\-.]{1,64}$/.test(ix.id ?? '');
  }

  /** Whether the requester may see this one resource; a denial is audited with its reason and answered 403 (or 404). */
  private async checkOne(q: Queryable, ix: Interaction, facts: ConsentFacts, policy: ConsentPolicy): Promise<void> {
    if (!this.checkable(ix)) return; // the engine answers
    const visible = await this.search.matchIds(q, ix.resourceType!, `_id=${ix.id}`, 1, { consent: facts });
    if (!visible.length) await this.refuse(q, ix, facts, policy);
  }

  /** A resource the requester may not see: 403 (or 404 with `hideDenied`) with the reason, audited; nothing if it does not exist. */
  private async refuse(q: Queryable, ix: Interaction, facts: ConsentFacts, policy: ConsentPolicy): Promise<void> {
    const type = ix.resourceType!;
    const id = ix.id!;
    const exists = await q.query({ name: 'consent_exists', text: 'SELECT 1 FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted', values: [type, id] });
    if (!exists.rows.length) return; // 404/410 from the engine, as for anyone
    const reason = await this.explain(q, type, id, facts);
    this.audit.recordWith(ix, { ...this.event(ix, 'denied', reason.patients, reason.consents, reason.text), status: policy.hideDenied ? 404 : 403 });
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

type Settled = { result: InteractionResult } | { failure: unknown };

/** The rest of the pipeline's result or error, as a value. */
async function settle(next: Next): Promise<Settled> {
  try {
    return { result: await next() };
  } catch (failure) {
    return { failure };
  }
}
