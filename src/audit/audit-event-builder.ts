import { randomUUID } from 'node:crypto';
import { addPatientRefsInJson, PATIENT_FIELDS } from '../fhir/pipeline/patient-refs.js';
import type { Interaction, InteractionKind, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { Principal } from '../fhir/pipeline/principal.js';
import type { RejectedRequest } from '../fhir/pipeline/pipeline.js';
import { FhirError } from '../fhir/operation-outcome.js';
import type { AuditEvent } from './audit-record.js';
import { sharedPart } from './canonical-json.js';
// the constant parts of a record: frozen, keys in canonical order, stored as tokens (see record-dictionary.ts)
import {
  AGENT_HUMAN_USER,
  AGENT_SOURCE_ROLE,
  DOOR_DETAIL,
  OBSERVER,
  REQUEST_ID_ENTITY_TYPE,
  RESTFUL_INTERACTION,
  ROLE_DOMAIN_RESOURCE,
  ROLE_PATIENT,
  ROLE_QUERY,
  SOURCE_TYPE,
  SUBTYPE_CODING,
  TYPE_PERSON,
  TYPE_REST,
  TYPE_SYSTEM_OBJECT,
} from './record-dictionary.js';

export const HUB_OPERATION_SYSTEM = 'urn:hie-hub:operation';
export const CLIENT_ID_SYSTEM = 'urn:hie-hub:client-id';
export const USER_ID_SYSTEM = 'urn:hie-hub:user-id';

const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** BALP: create C, read R, update/patch U, delete D, everything that queries or executes E. */
const ACTION: Record<InteractionKind, 'C' | 'R' | 'U' | 'D' | 'E'> = {
  capabilities: 'R',
  read: 'R',
  vread: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  create: 'C',
  'search-type': 'E',
  'search-system': 'E',
  'search-compartment': 'E',
  'history-instance': 'E',
  'history-type': 'E',
  'history-system': 'E',
  batch: 'E',
  transaction: 'E',
  operation: 'E',
};

/** http://hl7.org/fhir/restful-interaction codes (a compartment search is a `search`). */
const SUBTYPE: Record<InteractionKind, string> = {
  capabilities: 'capabilities',
  read: 'read',
  vread: 'vread',
  update: 'update',
  patch: 'patch',
  delete: 'delete',
  create: 'create',
  'search-type': 'search-type',
  'search-system': 'search-system',
  'search-compartment': 'search',
  'history-instance': 'history-instance',
  'history-type': 'history-type',
  'history-system': 'history-system',
  batch: 'batch',
  transaction: 'transaction',
  operation: 'operation',
};

/** AuditEvent.outcome: 0 success, 4 minor failure (the client's: 4xx), 8 serious failure (the server's: 5xx). */
export function outcomeCode(status: number): '0' | '4' | '8' {
  return status < 400 ? '0' : status < 500 ? '4' : '8';
}

/**
 * Agents by what they are made of: a requester's requests (a Bundle's entries, a client's reads) share one frozen
 * array, whose stored text is written once (canonical-json.ts `sharedPart`). Bounded: emptied when full.
 */
const agentsByRequester = new Map<string, any[]>();
const MAX_AGENTS_KEPT = 1000;

/** The agents of an access: the user, the client application (with the network address), as BALP shapes them. */
export function agentsOf(p: Principal | undefined): any[] {
  const key = JSON.stringify([p?.kind, p?.fhirUser, p?.patient, p?.userId, p?.clientId, p?.address, p?.purposeOfUse]);
  let agents = agentsByRequester.get(key);
  if (agents === undefined) {
    if (agentsByRequester.size >= MAX_AGENTS_KEPT) agentsByRequester.clear();
    agents = sharedPart(buildAgents(p));
    agentsByRequester.set(key, agents);
  }
  return agents;
}

function buildAgents(p: Principal | undefined): any[] {
  const network = p?.address ? { address: p.address, type: '2' } : undefined;
  const purposeOfUse = purposesOf(p);
  const agents: any[] = [];
  const userRef = p?.fhirUser ?? (p?.kind === 'patient' && p.patient ? `Patient/${p.patient}` : undefined);
  if (userRef || p?.userId) {
    const identifier = p?.userId ? { system: USER_ID_SYSTEM, value: p.userId } : undefined;
    // `network` is set below when no client agent carries it (the key is here so that the order stays canonical)
    agents.push({ network: undefined, purposeOfUse, requestor: true, type: AGENT_HUMAN_USER, who: { identifier, reference: userRef } });
  }
  if (p?.clientId) {
    agents.push({
      network,
      purposeOfUse: agents.length ? undefined : purposeOfUse,
      requestor: agents.length === 0,
      type: AGENT_SOURCE_ROLE,
      who: { display: p.clientId, identifier: { system: CLIENT_ID_SYSTEM, value: p.clientId } },
    });
  } else {
    // no client: the development principal (authentication off), the hub itself, or an anonymous caller
    const who = p?.kind === 'system' ? 'system (development principal: authentication is not configured)' : (p?.kind ?? 'anonymous');
    if (agents.length) agents[0].network = network;
    else agents.push({ network, purposeOfUse, requestor: true, type: AGENT_SOURCE_ROLE, who: { display: who } });
  }
  return agents;
}

/** Purposes of use as AuditEvent codings (agent.purposeOfUse, purposeOfEvent). */
function purposesOf(p: Principal | undefined): any[] | undefined {
  return p?.purposeOfUse?.length ? p.purposeOfUse.map((code) => ({ coding: [{ code, system: ACT_REASON }] })) : undefined;
}

export function sourceOf(baseUrl: string): any {
  return { observer: OBSERVER, site: baseUrl, type: SOURCE_TYPE };
}

export function patientEntity(ref: string): any {
  return { role: ROLE_PATIENT, type: TYPE_PERSON, what: { reference: ref } };
}

export function requestEntity(requestId: string, door: string): any {
  return { detail: DOOR_DETAIL[door] ?? [{ type: 'door', valueString: door }], type: REQUEST_ID_ENTITY_TYPE, what: { identifier: { value: requestId } } };
}

/** Builds the record of one interaction from what was asked and what came of it (a result or an error). */
export function interactionEvent(ix: Interaction, baseUrl: string, outcome: { result?: InteractionResult; error?: unknown }, note?: string): AuditEvent {
  const error = outcome.error === undefined ? undefined : outcome.error instanceof FhirError ? outcome.error : undefined;
  const status = outcome.result?.status ?? error?.status ?? 500;
  const subtype: any[] = [SUBTYPE_CODING[SUBTYPE[ix.kind]] ?? { code: SUBTYPE[ix.kind], system: RESTFUL_INTERACTION }];
  if (ix.kind === 'operation' && ix.operation) subtype.push({ code: `$${ix.operation}`, system: HUB_OPERATION_SYSTEM });
  const entity: any[] = [];
  const touched = touchedResource(ix, outcome.result);
  if (touched) entity.push({ role: ROLE_DOMAIN_RESOURCE, type: TYPE_SYSTEM_OBJECT, what: { reference: touched } });
  if (ix.kind.startsWith('search') || ix.kind.startsWith('history')) {
    const query = ix.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const path = ix.compartment ? `${ix.compartment.type}/${ix.compartment.id}/${ix.resourceType ?? '*'}` : (ix.resourceType ?? '');
    entity.push({
      description: `${path}${query ? `?${query}` : ''}`.slice(0, 2000) || undefined,
      query: query ? Buffer.from(query).toString('base64') : undefined,
      role: ROLE_QUERY,
      type: TYPE_SYSTEM_OBJECT,
    });
  }
  for (const ref of patientsOf(ix, outcome.result)) entity.push(patientEntity(ref));
  if (ix.requestId) entity.push(requestEntity(ix.requestId, ix.door));
  let outcomeDesc: string | undefined;
  if (status >= 400) {
    const issue = error?.outcome?.issue?.[0];
    outcomeDesc = `${status} ${issue?.diagnostics ?? issue?.details?.text ?? (error ? 'failed' : 'internal error')}`.slice(0, 1000);
  }
  if (note) outcomeDesc = outcomeDesc ? `${outcomeDesc} (${note})` : note;
  // keys in canonical (sorted) order here and in every object below: canonicalJson then copies nothing
  return {
    action: ACTION[ix.kind],
    agent: agentsOf(ix.principal),
    entity: entity.length ? entity : undefined,
    id: randomUUID(),
    outcome: outcomeCode(status),
    outcomeDesc,
    purposeOfEvent: purposesOf(ix.principal),
    recorded: new Date().toISOString(),
    resourceType: 'AuditEvent',
    source: sourceOf(baseUrl),
    subtype,
    type: TYPE_REST,
  };
}

/** The record of a request a door refused before it became an interaction (unknown type, malformed, 401). */
export function rejectedEvent(req: RejectedRequest): AuditEvent {
  const error = req.error instanceof FhirError ? req.error : undefined;
  const status = error?.status ?? 500;
  const method = req.method.toUpperCase();
  const issue = error?.outcome?.issue?.[0];
  const entity: any[] = [
    { description: `${method} ${req.path}`.slice(0, 2000), role: ROLE_QUERY, type: TYPE_SYSTEM_OBJECT },
  ];
  if (req.requestId) entity.push(requestEntity(req.requestId, req.door));
  return {
    action: method === 'POST' ? 'C' : method === 'PUT' || method === 'PATCH' ? 'U' : method === 'DELETE' ? 'D' : 'R',
    agent: agentsOf(req.principal),
    entity,
    id: randomUUID(),
    outcome: outcomeCode(status),
    outcomeDesc: `${status} ${issue?.diagnostics ?? 'refused'}`.slice(0, 1000),
    recorded: new Date().toISOString(),
    resourceType: 'AuditEvent',
    source: sourceOf(req.baseUrl),
    type: TYPE_REST,
  };
}

/** Type/id of the resource an instance-level interaction touched (a create's from its Location). */
function touchedResource(ix: Interaction, result?: InteractionResult): string | undefined {
  if (result?.location) return result.location.split('/_history/')[0];
  if (ix.resourceType && ix.id) return `${ix.resourceType}/${ix.id}`;
  return undefined;
}

function patientsOfResource(r: any, out: Set<string>): void {
  if (!r || typeof r !== 'object') return;
  if (r.resourceType === 'Patient' && typeof r.id === 'string') out.add(`Patient/${r.id}`);
  for (const f of PATIENT_FIELDS) {
    const ref = r[f]?.reference;
    if (typeof ref === 'string' && ref.startsWith('Patient/')) out.add(ref.split('/_history/')[0]);
  }
}

/**
 * The patients whose data the interaction touched: the Patient itself or the compartment's, the subject/patient of
 * a written body, and for reads and searches those of every resource returned.
 */
export function patientsOf(ix: Interaction, result?: InteractionResult): string[] {
  const out = new Set<string>();
  if (ix.resourceType === 'Patient' && ix.id) out.add(`Patient/${ix.id}`);
  if (ix.compartment?.type === 'Patient') out.add(`Patient/${ix.compartment.id}`);
  if (ix.kind === 'create' || ix.kind === 'update') patientsOfResource(ix.body, out);
  if (ix.kind === 'create' && ix.resourceType === 'Patient' && result?.location) out.add(result.location.split('/_history/')[0]);
  if (result && result.status < 400) {
    if (result.patients) {
      for (const p of result.patients) out.add(p); // the engine knew them (a search Bundle built as text)
    } else if (result.resourceJson !== undefined) {
      addPatientRefsInJson(result.resourceJson, out);
    } else {
      const r = result.resource as any;
      if (r?.resourceType === 'Bundle' && (r.type === 'searchset' || r.type === 'history' || r.type === 'collection')) {
        for (const e of r.entry ?? []) patientsOfResource(e.resource, out);
      } else if (r?.resourceType !== 'Bundle') patientsOfResource(r, out);
    }
  }
  return [...out];
}
