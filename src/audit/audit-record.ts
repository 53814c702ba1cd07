import { canonicalJson } from './canonical-json.js';
import { REQUEST_ID_ENTITY_TYPE } from './record-dictionary.js';

/** An R4 AuditEvent as the hub writes it (plain JSON). */
export type AuditEvent = Record<string, any> & { resourceType: 'AuditEvent'; id: string; recorded: string };

/**
 * The searchable columns of an `audit_event` row. They are derived from the event when it is appended and are
 * part of the hashed record, so changing one of them (e.g. removing a patient, to hide an access from that
 * patient's $access-log) breaks the chain just as changing the event would.
 */
export interface AuditIndex {
  id: string;
  recorded: string;
  /** `Patient/x` references among entity.what (the patients whose data was touched or returned) */
  patients: string[];
  /** agent.who references and identifier values (user, client app) */
  agents: string[];
  /**
   * entity.what references other than the patients' (those are in `patients`; `entity=` searches both): a search
   * that returned 20 patients' data indexed each of them twice, 40 GIN entries per record instead of 21
   */
  entities: string[];
  /** X-Request-Id of the interaction (BALP XrequestId entity) */
  requestId: string | null;
}

/** Index values never hold control characters (the chain passes a group's rows joined by one, audit-chain.ts). */
const HAS_CONTROL = /[\u0000-\u001f]/;
const clean = (v: string): string => (HAS_CONTROL.test(v) ? v.replace(/[\u0000-\u001f]/g, '') : v);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set([...values].map(clean))].sort();

export function indexOf(event: AuditEvent): AuditIndex {
  const patients: string[] = [];
  const entities: string[] = [];
  const agents: string[] = [];
  let requestId: string | null = null;
  for (const e of event.entity ?? []) {
    const ref = e?.what?.reference;
    if (typeof ref === 'string') {
      if (ref.startsWith('Patient/')) patients.push(ref);
      else entities.push(ref);
    }
    if (e?.type?.code === REQUEST_ID_ENTITY_TYPE.code && typeof e.what?.identifier?.value === 'string') requestId = clean(e.what.identifier.value);
  }
  for (const a of event.agent ?? []) {
    if (typeof a?.who?.reference === 'string') agents.push(a.who.reference);
    if (typeof a?.who?.identifier?.value === 'string') agents.push(a.who.identifier.value);
  }
  return {
    id: event.id,
    recorded: event.recorded,
    patients: sortedUnique(patients),
    agents: sortedUnique(agents),
    entities: sortedUnique(entities),
    requestId,
  };
}

/**
 * The exact text that is hashed for one record: canonical JSON of
 * `{ agents, entities, event, id, patients, recorded, requestId, seq }` (keys in canonical order), where `event` is
 * the stored canonical AuditEvent text and the arrays are given as their JSON text. Built by concatenation, so the
 * verifier never parses an event: PostgreSQL renders the arrays (array_to_json), exactly as JSON.stringify would.
 */
export function recordText(seq: number | string, content: string, idx: AuditIndex): string {
  const { prefix, suffix } = recordParts(seq, idx);
  return prefix + content + suffix;
}

/**
 * `recordText` around the event's text: what comes before it and after it (the chain hashes the three parts
 * without joining them, audit-chain.ts).
 */
export function recordParts(seq: number | string, idx: AuditIndex): { prefix: string; suffix: string } {
  return {
    prefix: `{"agents":${canonicalJson(idx.agents)},"entities":${canonicalJson(idx.entities)},"event":`,
    suffix:
      `,"id":${JSON.stringify(idx.id)},"patients":${canonicalJson(idx.patients)},"recorded":${JSON.stringify(idx.recorded)},` +
      `"requestId":${JSON.stringify(idx.requestId)},"seq":${seq}}`,
  };
}

/**
 * The same text as `recordText`, rendered by PostgreSQL from a stored row (the verifier's form: one text per row,
 * nothing to assemble or convert in JavaScript). to_json and array_to_json escape strings exactly as JSON.stringify
 * does for the values a row can hold (test/e2e/audit-tamper.test.ts checks it on awkward values), `recorded` is
 * written as toISOString writes it; a sub-millisecond part (the hub never writes one) adds a '~' so that it cannot
 * match the hashed text.
 */
export const RECORD_TEXT_SQL = `'{"agents":' || array_to_json(agents)::text || ',"entities":' || array_to_json(entities)::text
  || ',"event":' || content || ',"id":' || to_json(id)::text || ',"patients":' || array_to_json(patients)::text
  || ',"recorded":"' || to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS')
  || CASE WHEN date_part('microseconds', recorded)::int8 % 1000 = 0 THEN 'Z' ELSE '~Z' END || '","requestId":'
  || coalesce(to_json(request_id)::text, 'null') || ',"seq":' || seq::text || '}'`;
