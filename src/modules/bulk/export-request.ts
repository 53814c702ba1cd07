import { R4Definitions } from '../../fhir/definitions/r4-definitions.js';
import { FhirError } from '../../fhir/operation-outcome.js';
import type { Interaction } from '../../fhir/pipeline/interaction.js';
import { ASSOCIATED_DATA, type AssociatedData } from './associated-provenance.js';
import { readableTypes } from './scope-types.js';

export type ExportLevel = 'system' | 'patient' | 'group';

/** A validated `$export` kick-off, stored with the job: everything the runner needs, nothing it must re-parse. */
export interface ExportRequest {
  level: ExportLevel;
  /** the Group of a group-level export */
  groupId?: string;
  /** resource types to export, in file order */
  types: string[];
  /** per type, alternative search queries (OR); a type without an entry is exported whole */
  typeFilters: Record<string, string[]>;
  /** instant: only resources whose version as of the transaction time was written after it */
  since?: string;
  /** `_elements`: `name` or `Type.name` */
  elements?: string[];
  /** `patient` parameter (ids) of a patient- or group-level export */
  patients?: string[];
  /** `includeAssociatedData`: the Provenance of the exported resources, written after them (the widest asked) */
  associatedData?: AssociatedData;
}

const FORMATS = new Set(['application/fhir+ndjson', 'application/fhir ndjson', 'application/ndjson', 'ndjson']);
/** `2024-01-02T03:04:05(.sss)(Z|+hh:mm)`: _since is an instant */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** The kick-off parameters this hub supports (also declared in the CapabilityStatement: bulk-capabilities.ts). */
export const EXPORT_PARAMETERS = ['_outputFormat', '_since', '_type', '_typeFilter', '_elements', 'patient', 'includeAssociatedData'] as const;
const KNOWN = new Set<string>(EXPORT_PARAMETERS);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The kick-off's parameters: query string and, for POST, a Parameters body (both may be used). */
function collect(ix: Interaction): [string, string][] {
  const out: [string, string][] = [...ix.params];
  const body: any = ix.body;
  if (body !== undefined && body !== null) {
    if (body.resourceType !== 'Parameters') throw FhirError.badRequest('The $export body must be a Parameters resource');
    for (const p of body.parameter ?? []) {
      const name = String(p?.name ?? '');
      const ref = p.valueReference?.reference;
      const value = ref ?? p.valueString ?? p.valueInstant ?? p.valueDateTime ?? p.valueCode ?? p.valueUri ?? p.valueCanonical;
      if (typeof value !== 'string') throw FhirError.badRequest(`Parameter '${name}' has no usable value`);
      out.push([name, value]);
    }
  }
  return out;
}

function list(values: string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** Types a patient-level or group-level export can hold: those in the Patient compartment. */
export function patientCompartmentTypes(): string[] {
  return [...(R4Definitions.get().compartments.get('Patient')?.resources.keys() ?? [])].sort();
}

/**
 * Parses and checks the kick-off parameters (bad ones are a 400; types the principal's scopes do not allow are a
 * 403). Unknown parameters and unsupported `includeAssociatedData` values are an error unless the client asked for
 * `Prefer: handling=lenient`; then they are ignored and said so in `warnings` (the kick-off's OperationOutcome).
 */
export function parseExportRequest(ix: Interaction, level: ExportLevel, warnings: string[] = []): ExportRequest {
  const defs = R4Definitions.get();
  const params = collect(ix);
  const lenient = ix.prefer.handling === 'lenient';
  const values = (name: string) => params.filter(([k]) => k === name).map(([, v]) => v);
  for (const [k] of params) {
    if (KNOWN.has(k)) continue;
    if (!lenient) throw FhirError.badRequest(`Unknown $export parameter '${k}' (send Prefer: handling=lenient to ignore it)`, 'not-supported');
    warnings.push(`Parameter '${k}' is not supported and was ignored`);
  }
  const req: ExportRequest = { level, types: [], typeFilters: {} };

  const formats = values('_outputFormat');
  if (formats.length > 1) throw FhirError.badRequest('_outputFormat may be given once');
  if (formats.length && !FORMATS.has(formats[0])) {
    throw FhirError.badRequest(`_outputFormat '${formats[0]}' is not supported (application/fhir+ndjson, application/ndjson, ndjson)`, 'not-supported');
  }

  const since = values('_since');
  if (since.length > 1) throw FhirError.badRequest('_since may be given once');
  if (since.length) {
    // a '+' of the offset arrives as a space when the client did not percent-encode it
    const s = since[0].replace(' ', '+');
    if (!INSTANT.test(s) || Number.isNaN(Date.parse(s))) throw FhirError.badRequest(`_since '${since[0]}' is not an instant (e.g. 2024-01-01T00:00:00Z)`);
    req.since = new Date(s).toISOString();
  }

  const allowed = readableTypes(ix.principal.scopes, [...defs.resourceTypes]);
  const inLevel = level === 'system' ? [...defs.resourceTypes].sort() : patientCompartmentTypes();
  const asked = list(values('_type'));
  for (const t of asked) {
    if (!defs.isResourceType(t)) throw FhirError.badRequest(`_type: '${t}' is not a resource type`);
    if (!inLevel.includes(t)) throw FhirError.badRequest(`_type: ${t} is not in the Patient compartment, so a ${level}-level export cannot hold it`);
    if (!allowed.has(t)) throw new FhirError(403, `The access token does not allow reading ${t}`, 'forbidden');
  }
  req.types = asked.length ? [...new Set(asked)] : inLevel.filter((t) => allowed.has(t));
  if (!req.types.length) throw new FhirError(403, 'The access token allows reading none of the types this export would hold', 'forbidden');

  for (const raw of values('_typeFilter').flatMap((v) => v.split(/,(?=[A-Z][A-Za-z]+\?)/))) {
    const q = raw.indexOf('?');
    const type = q < 0 ? '' : raw.slice(0, q);
    if (!type || !defs.isResourceType(type)) throw FhirError.badRequest(`_typeFilter '${raw}' must be [type]?[search query]`);
    if (!req.types.includes(type)) throw FhirError.badRequest(`_typeFilter '${raw}': ${type} is not among the exported types`);
    const query = raw.slice(q + 1);
    if (!query) throw FhirError.badRequest(`_typeFilter '${raw}' has no search parameters`);
    (req.typeFilters[type] ??= []).push(query);
  }

  const elements = list(values('_elements'));
  for (const e of elements) {
    const parts = e.split('.');
    const ok = (parts.length === 1 && /^[a-z][A-Za-z0-9]*$/.test(parts[0])) || (parts.length === 2 && defs.isResourceType(parts[0]) && /^[a-z][A-Za-z0-9]*$/.test(parts[1]));
    if (!ok) throw FhirError.badRequest(`_elements: '${e}' is not [element] or [type].[element]`);
  }
  if (elements.length) req.elements = elements;

  const patients = values('patient');
  if (patients.length) {
    if (level === 'system') throw FhirError.badRequest('patient applies to patient-level and group-level exports only');
    req.patients = [
      ...new Set(
        patients.flatMap((p) => p.split(',')).map((p) => {
          const m = /^(?:.*\/)?Patient\/([^/]+)$/.exec(p.trim());
          if (!m || !ID.test(m[1])) throw FhirError.badRequest(`patient '${p}' is not a Patient reference`);
          return m[1];
        }),
      ),
    ];
  }

  const associated = [...new Set(list(values('includeAssociatedData')))];
  const unsupported = associated.filter((v) => !(ASSOCIATED_DATA as readonly string[]).includes(v));
  if (unsupported.length) {
    const what = `includeAssociatedData ${unsupported.map((v) => `'${v}'`).join(', ')} is not supported (supported: ${ASSOCIATED_DATA.join(', ')})`;
    if (!lenient) throw FhirError.badRequest(`${what}; send Prefer: handling=lenient to ignore it`, 'not-supported');
    warnings.push(`${what} and was ignored`);
  }
  const supported = associated.filter((v): v is AssociatedData => (ASSOCIATED_DATA as readonly string[]).includes(v));
  if (supported.length) {
    if (!allowed.has('Provenance')) throw new FhirError(403, 'includeAssociatedData exports Provenance, which the access token does not allow reading', 'forbidden');
    // several values: the least restrictive one (the spec's rule)
    req.associatedData = supported.includes('RelevantProvenanceResources') ? 'RelevantProvenanceResources' : 'LatestProvenanceResources';
  }
  return req;
}
