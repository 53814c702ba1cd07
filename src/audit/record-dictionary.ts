/**
 * The stored (and hashed) form of an AuditEvent is its canonical JSON in which the constant parts every record repeats
 * (codings, the source type, the observer, the subtype codings, the door details) are written as a two-character
 * token: the control character U+0001 and one letter. Measured: those parts were ~60 % of a read's record; hashing,
 * sending, storing and verifying them cost the same for every record. The AuditEvent is rendered on read by putting
 * the tokens' texts back (`expandRecord`).
 *
 * Why a raw control character: canonical JSON never holds one (JSON.stringify escapes U+0000–U+001F), so a token
 * can never be mistaken for anything a caller wrote, and a record without tokens (every record stored before this
 * form existed) expands to itself.
 *
 * THE DICTIONARY IS APPEND-ONLY. A token's text is part of what its records mean: never change or remove an entry,
 * only add new ones at the end (and then a migration re-creates the SQL function `audit_event_json`, which holds
 * the same table for searches on the event itself).
 */

const coding = (system: string, code: string, display?: string) => Object.freeze({ code, display, system });

const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';

export const TYPE_REST = coding(AUDIT_EVENT_TYPE, 'rest', 'RESTful Operation');
export const TYPE_SYSTEM_OBJECT = coding(ENTITY_TYPE, '2', 'System Object');
export const TYPE_PERSON = coding(ENTITY_TYPE, '1', 'Person');
export const ROLE_DOMAIN_RESOURCE = coding(OBJECT_ROLE, '4', 'Domain Resource');
export const ROLE_QUERY = coding(OBJECT_ROLE, '24', 'Query');
export const ROLE_PATIENT = coding(OBJECT_ROLE, '1', 'Patient');
export const AGENT_HUMAN_USER = Object.freeze({ coding: Object.freeze([coding('http://terminology.hl7.org/CodeSystem/extra-security-role-type', 'humanuser', 'human user')]) });
export const AGENT_SOURCE_ROLE = Object.freeze({ coding: Object.freeze([coding(DCM, '110153', 'Source Role ID')]) });
export const SOURCE_TYPE = Object.freeze([coding('http://terminology.hl7.org/CodeSystem/security-source-type', '4', 'Application Server')]);
export const OBSERVER = Object.freeze({ display: 'HIE hub' });
export const REQUEST_ID_ENTITY_TYPE = Object.freeze({ code: 'XrequestId', system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType' });

/** http://hl7.org/fhir/restful-interaction codings, one frozen object per code. */
export const SUBTYPE_CODING: Readonly<Record<string, Readonly<{ code: string; system: string }>>> = Object.freeze(
  Object.fromEntries(
    ['capabilities', 'read', 'vread', 'update', 'patch', 'delete', 'create', 'search-type', 'search-system', 'search', 'history-instance', 'history-type', 'history-system', 'batch', 'transaction', 'operation'].map(
      (code) => [code, Object.freeze({ code, system: RESTFUL_INTERACTION })],
    ),
  ),
);

/** `entity.detail` of the request-id entity for the hub's doors (others are written out). */
export const DOOR_DETAIL: Readonly<Record<string, readonly object[]>> = Object.freeze(
  Object.fromEntries(['rest', 'bundle-entry', 'graphql', 'bulk', 'oauth'].map((door) => [door, Object.freeze([Object.freeze({ type: 'door', valueString: door })])])),
);

/** Token letters, in order of the entries below. */
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The entries, in token order (APPEND-ONLY, see above). */
const ENTRIES: readonly object[] = [
  TYPE_REST,
  TYPE_SYSTEM_OBJECT,
  TYPE_PERSON,
  ROLE_DOMAIN_RESOURCE,
  ROLE_QUERY,
  ROLE_PATIENT,
  AGENT_HUMAN_USER,
  AGENT_SOURCE_ROLE,
  SOURCE_TYPE,
  OBSERVER,
  REQUEST_ID_ENTITY_TYPE,
  ...Object.values(SUBTYPE_CODING),
  ...Object.values(DOOR_DETAIL),
];

/** U+0001: starts a token. */
export const TOKEN_MARK = '\u0001';

/** frozen object → its token; token → the canonical JSON text it stands for */
export const TOKEN_OF = new Map<object, string>();
export const TEXT_OF: Record<string, string> = Object.create(null);

/** Canonical JSON of one dictionary value (keys sorted; they are small and built in order, but sort anyway). */
function plainCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(plainCanonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${plainCanonical(obj[k])}`).join(',')}}`;
}

ENTRIES.forEach((entry, i) => {
  const token = TOKEN_MARK + LETTERS[i];
  TOKEN_OF.set(entry, token);
  TEXT_OF[token] = plainCanonical(entry);
});

const TOKEN = /\u0001./g;

/** The AuditEvent's canonical JSON from its stored form (the stored text itself when it holds no token). */
export function expandRecord(stored: string): string {
  // an unknown token can only come from an altered row (the chain reports it): render it as null, keep the JSON valid
  return stored.includes(TOKEN_MARK) ? stored.replace(TOKEN, (t) => TEXT_OF[t] ?? 'null') : stored;
}

/** The dictionary as [token, text] pairs (the migration writes them into the SQL function `audit_event_json`). */
export function dictionaryEntries(): [string, string][] {
  return Object.entries(TEXT_OF);
}
