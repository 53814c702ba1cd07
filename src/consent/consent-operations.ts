import type { OperationHandler } from '../fhir/engine/operation-registry.js';
import { FhirError } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { InteractionContext } from '../fhir/pipeline/pipeline.js';
import type { Principal } from '../fhir/pipeline/principal.js';
import type { Db } from '../modules/database/db.js';
import { BREAK_GLASS_PURPOSES, type BreakGlassSession, type BreakGlassSessions } from './break-glass-sessions.js';
import type { ConsentAuditRecorder } from './consent-audit.js';
import type { ConsentConfig } from './consent-config.js';
import type { ConsentPolicy, ConsentPolicyStore } from './consent-policy.js';

const OPERATION_BASE = 'urn:hie-hub:OperationDefinition';

/** Full system access: what the administrative operations (review queue, base policy) ask of their caller. */
export function isAdministrator(p: Principal): boolean {
  if (p.kind === 'system') return true;
  return p.scopes.some((s) => s === 'system/*.*' || s === 'system/*.cruds');
}

/** A Parameters body's parameters by name (first value of each). */
function params(ix: Interaction): Map<string, any> {
  const out = new Map<string, any>();
  const body = ix.body as any;
  if (body !== undefined && body?.resourceType !== 'Parameters') throw FhirError.badRequest(`$${ix.operation} takes a Parameters resource`);
  for (const p of body?.parameter ?? []) {
    if (typeof p?.name !== 'string' || out.has(p.name)) continue;
    const key = Object.keys(p).find((k) => k.startsWith('value'));
    out.set(p.name, key ? p[key] : undefined);
  }
  for (const [k, v] of ix.params) if (!out.has(k)) out.set(k, v);
  return out;
}

function sessionParameters(s: BreakGlassSession): any {
  const part = [
    { name: 'id', valueString: s.id },
    { name: 'user', valueString: s.userId },
    ...(s.fhirUser ? [{ name: 'practitioner', valueReference: { reference: s.fhirUser } }] : []),
    ...(s.organization ? [{ name: 'organization', valueReference: { reference: s.organization } }] : []),
    { name: 'patient', valueReference: { reference: `Patient/${s.patientId}` } },
    { name: 'purpose', valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: s.purpose } },
    { name: 'reason', valueString: s.reason },
    { name: 'start', valueInstant: s.startedAt },
    { name: 'end', valueInstant: s.expiresAt },
    { name: 'status', valueCode: s.reviewedAt ? 'reviewed' : 'pending' },
    ...(s.reviewedAt ? [{ name: 'reviewed', valueInstant: s.reviewedAt }, { name: 'reviewer', valueString: s.reviewedBy }, { name: 'comment', valueString: s.reviewComment }] : []),
  ];
  return { name: 'session', part };
}

const parameters = (parameter: any[]) => ({ resourceType: 'Parameters', parameter });

export interface ConsentOperationDeps {
  db: Db;
  config: ConsentConfig;
  sessions: BreakGlassSessions;
  policies: ConsentPolicyStore;
  audit: ConsentAuditRecorder;
}

/**
 * `Patient/[id]/$break-glass` (a user starts emergency access), `$break-glass-sessions` (the review queue) and
 * `$break-glass-review` (a compliance officer marks a session reviewed), and `$consent-policy` (the base policy).
 */
export function consentOperations(d: ConsentOperationDeps): OperationHandler[] {
  const breakGlass: OperationHandler = {
    name: 'break-glass',
    definition: `${OPERATION_BASE}/Patient-break-glass`,
    levels: ['instance'],
    resourceTypes: ['Patient'],
    affectsState: true,
    async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
      const p = ix.principal;
      if (p.kind !== 'user' || !p.userId) throw new FhirError(403, 'Break-the-glass is for a signed-in user (a user token), not for clients or patients', 'forbidden');
      const input = params(ix);
      const reason = typeof input.get('reason') === 'string' ? input.get('reason').trim() : '';
      if (reason.length < 5) throw FhirError.badRequest('$break-glass needs a "reason" (valueString, at least 5 characters)');
      const purposeValue = input.get('purpose');
      const purpose = typeof purposeValue === 'string' ? purposeValue : (purposeValue?.code ?? 'BTG');
      if (!BREAK_GLASS_PURPOSES.includes(purpose)) throw FhirError.badRequest(`"purpose" must be one of ${BREAK_GLASS_PURPOSES.join(', ')}`);
      const asked = input.get('minutes') === undefined ? d.config.breakGlassMinutes : Number(input.get('minutes'));
      if (!Number.isFinite(asked) || asked <= 0) throw FhirError.badRequest('"minutes" must be a positive number');
      const minutes = Math.min(asked, d.config.breakGlassMinutes);
      const q = ctx.tx ?? d.db;
      const exists = await q.query('SELECT 1 FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted', ['Patient', ix.id]);
      if (!exists.rows.length) throw FhirError.notFound(`Patient/${ix.id} is not known`);
      const session = await d.sessions.start(q, p, ix.id!, purpose, reason, minutes);
      await d.audit.record({
        kind: 'break-glass-started',
        principal: { ...p, purposeOfUse: [...new Set([...(p.purposeOfUse ?? []), purpose])] },
        patients: [ix.id!],
        entities: [`urn:uuid:${session.id}`],
        reason,
        interaction: `$break-glass Patient/${ix.id}`,
        requestId: ix.requestId,
        door: ix.door,
      });
      return { status: 201, resource: parameters([sessionParameters(session)]) };
    },
  };

  const sessionsList: OperationHandler = {
    name: 'break-glass-sessions',
    definition: `${OPERATION_BASE}/break-glass-sessions`,
    levels: ['system'],
    affectsState: false,
    async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
      if (!isAdministrator(ix.principal)) throw new FhirError(403, 'The break-the-glass review queue needs full system access (system/*.*)', 'forbidden');
      const input = params(ix);
      const status = input.get('status') ?? 'pending';
      if (status !== 'pending' && status !== 'all') throw FhirError.badRequest('"status" is pending (default) or all');
      const patient = input.get('patient');
      const patientId = typeof patient === 'string' ? patient.replace(/^Patient\//, '') : patient?.reference?.replace(/^Patient\//, '');
      const list = await d.sessions.list(ctx.tx ?? d.db, { all: status === 'all', patientId });
      return { status: 200, resource: parameters(list.map(sessionParameters)) };
    },
  };

  const review: OperationHandler = {
    name: 'break-glass-review',
    definition: `${OPERATION_BASE}/break-glass-review`,
    levels: ['system'],
    affectsState: true,
    async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
      if (!isAdministrator(ix.principal)) throw new FhirError(403, 'Reviewing break-the-glass sessions needs full system access (system/*.*)', 'forbidden');
      const input = params(ix);
      const id = input.get('session');
      const comment = input.get('comment');
      if (typeof id !== 'string' || typeof comment !== 'string' || !comment.trim()) throw FhirError.badRequest('$break-glass-review needs "session" (the id) and a "comment"');
      const reviewer = ix.principal.fhirUser ?? ix.principal.userId ?? ix.principal.clientId ?? ix.principal.kind;
      const session = await d.sessions.review(ctx.tx ?? d.db, id, reviewer, comment.trim());
      if (!session) throw FhirError.notFound(`No break-the-glass session ${id}`);
      await d.audit.record({
        kind: 'break-glass-reviewed',
        principal: ix.principal,
        patients: [session.patientId],
        entities: [`urn:uuid:${session.id}`],
        reason: comment.trim(),
        interaction: '$break-glass-review',
        requestId: ix.requestId,
        door: ix.door,
      });
      return { status: 200, resource: parameters([sessionParameters(session)]) };
    },
  };

  const policy: OperationHandler = {
    name: 'consent-policy',
    definition: `${OPERATION_BASE}/consent-policy`,
    levels: ['system'],
    affectsState: true,
    async execute(ix: Interaction, ctx: InteractionContext): Promise<InteractionResult> {
      const q = ctx.tx ?? d.db;
      const show = (pol: ConsentPolicy) => ({
        status: 200,
        resource: parameters([
          { name: 'base', valueCode: pol.base },
          { name: 'hideDenied', valueBoolean: pol.hideDenied },
          { name: 'enforced', valueBoolean: d.config.enabled },
        ]),
      });
      if (ix.body === undefined) return show(await d.policies.current(q));
      if (!isAdministrator(ix.principal)) throw new FhirError(403, 'Changing the consent base policy needs full system access (system/*.*)', 'forbidden');
      const input = params(ix);
      const base = input.get('base');
      const hide = input.get('hideDenied');
      if (base !== undefined && base !== 'opt-in' && base !== 'opt-out') throw FhirError.badRequest('"base" is opt-in or opt-out');
      if (hide !== undefined && typeof hide !== 'boolean') throw FhirError.badRequest('"hideDenied" is a boolean');
      return show(await d.policies.set(q, { base, hideDenied: hide }));
    },
  };

  return [breakGlass, sessionsList, review, policy];
}
