import { tryGetDataType } from '@medplum/core';
import { R4Definitions } from '../definitions/r4-definitions.js';
import { issue, type OutcomeIssue } from '../operation-outcome.js';

/**
 * R4 rules that @medplum/core's validator does not check (each one found by a test of a broken resource):
 *  - a choice element (`value[x]`) carries at most one type (`valueString` and `valueBoolean` together is invalid);
 *  - JSON arrays and strings are never empty (R4 json.html);
 *  - a dateTime with a time has seconds and a time zone, an id matches [A-Za-z0-9\-.]{1,64} (R4 datatype regexes);
 *  - a contained resource has a known resourceType;
 *  - Reference.reference is `#id` of a contained resource (ref-1), `Type/id[/_history/vid]`, an absolute URL or a urn.
 */
const DATE_TIME = /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE_REF = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

export function r4JsonRuleIssues(resource: any): OutcomeIssue[] {
  const issues: OutcomeIssue[] = [];
  checkResource(resource, resource.resourceType, resource, issues);
  return issues;
}

/** `root` is the resource whose `contained` a `#id` reference points into (the container, for a contained resource). */
function checkResource(resource: any, path: string, root: any, issues: OutcomeIssue[]): void {
  if (resource.id !== undefined && (typeof resource.id !== 'string' || !ID.test(resource.id))) {
    issues.push(issue('error', 'structure', `Invalid id format "${String(resource.id)}"`, [`${path}.id`]));
  }
  checkElement(resource, resource.resourceType, path, root, issues);
}

interface PropertyInfo {
  /** the element's type for this JSON property (the one named by a choice suffix) */
  type: string;
  /** `value` for `valueString` when the element is a choice `value[x]` */
  choiceBase?: string;
}

const propertyCache = new Map<string, Map<string, PropertyInfo> | null>();

/** JSON property name → element type for a data type or resource, from the library's indexed schema. */
function propertiesOf(typeName: string): Map<string, PropertyInfo> | null {
  let props = propertyCache.get(typeName);
  if (props !== undefined) return props;
  const schema = tryGetDataType(typeName);
  props = schema ? new Map() : null;
  for (const [key, el] of Object.entries(schema?.elements ?? {}) as [string, any][]) {
    const types: string[] = (el.type ?? []).map((t: any) => t.code);
    if (key.endsWith('[x]')) {
      const base = key.slice(0, -3);
      for (const t of types) props!.set(base + upperFirst(t), { type: t, choiceBase: base });
    } else if (types.length) props!.set(key, { type: types[0] });
  }
  propertyCache.set(typeName, props);
  return props;
}

function checkElement(value: any, typeName: string, path: string, rootResource: any, issues: OutcomeIssue[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const props = propertiesOf(typeName);
  if (!props) return;
  const choices = new Map<string, string[]>();
  for (const key of Object.keys(value)) {
    if (key.startsWith('_') && value[key.slice(1)] !== undefined) continue; // visited with its value
    const name = key.startsWith('_') ? key.slice(1) : key;
    const info = props.get(name);
    if (!info) continue; // unknown properties are the library's to report
    if (info.choiceBase) {
      const seen = choices.get(info.choiceBase) ?? [];
      seen.push(name);
      choices.set(info.choiceBase, seen);
    }
    const at = info.choiceBase ? `${path}.${info.choiceBase}.ofType(${info.type})` : `${path}.${name}`;
    checkProperty(value, name, info.type, at, rootResource, issues);
  }
  for (const [base, names] of choices) {
    if (names.length > 1) issues.push(issue('error', 'structure', `Only one type of ${base}[x] may be present, found ${names.join(', ')}`, [`${path}.${base}`]));
  }
}

function checkProperty(owner: any, key: string, typeName: string, path: string, rootResource: any, issues: OutcomeIssue[]): void {
  for (const k of [key, '_' + key]) {
    const v = owner[k];
    if (Array.isArray(v) && v.length === 0) issues.push(issue('error', 'structure', 'An array must not be empty', [path]));
  }
  const v = owner[key];
  if (v === undefined || v === null) return;
  const items = Array.isArray(v) ? v : [v];
  items.forEach((item, i) => {
    const p = Array.isArray(v) ? `${path}[${i}]` : path;
    if (typeof item === 'string') {
      if (item.length === 0) issues.push(issue('error', 'structure', 'A string must not be empty', [p]));
      else if (typeName === 'dateTime' && !DATE_TIME.test(item)) issues.push(issue('error', 'structure', `Invalid dateTime format "${item}"`, [p]));
      else if (typeName === 'id' && !ID.test(item)) issues.push(issue('error', 'structure', `Invalid id format "${item}"`, [p]));
      return;
    }
    if (typeName === 'Resource') {
      if (typeof item?.resourceType !== 'string' || !R4Definitions.get().isResourceType(item.resourceType)) {
        issues.push(issue('error', 'structure', `A contained resource needs a known resourceType, got "${String(item?.resourceType)}"`, [`${p}.resourceType`]));
        return;
      }
      // a contained resource resolves #refs in its container; a Bundle entry or Parameters resource is its own root
      checkResource(item, p, key === 'contained' ? rootResource : item, issues);
      return;
    }
    if (typeName === 'Reference' && typeof item?.reference === 'string' && item.reference.length > 0) {
      const problem = referenceProblem(item.reference, rootResource);
      if (problem) issues.push(issue('error', 'structure', problem, [`${p}.reference`]));
    }
    checkElement(item, typeName, p, rootResource, issues);
  });
}

function referenceProblem(ref: string, rootResource: any): string | undefined {
  if (ref.startsWith('#')) {
    if (ref === '#') return undefined; // a reference to the containing resource itself
    const ids = (rootResource.contained ?? []).map((c: any) => c?.id);
    return ids.includes(ref.slice(1)) ? undefined : `Reference "${ref}" points to no contained resource (ref-1)`;
  }
  const rel = RELATIVE_REF.exec(ref);
  if (rel) return R4Definitions.get().isResourceType(rel[1]) ? undefined : `Reference "${ref}" names an unknown resource type "${rel[1]}"`;
  if (ABSOLUTE_REF.test(ref) && !/^[A-Z][A-Za-z]+\?/.test(ref)) return undefined;
  return `Invalid reference format "${ref}" (expected Type/id, an absolute URL, a urn or #contained-id)`;
}

/** The FHIR type of the element at a simple location such as `DocumentReference.content[0].attachment.data`. */
export function elementTypeAt(resource: any, location: string): string | undefined {
  const parts = location.split('.');
  let value: any = resource;
  let type: string | undefined = resource?.resourceType;
  if (parts[0] !== type) return undefined;
  for (const part of parts.slice(1)) {
    const m = /^([A-Za-z0-9_]+)(?:\[(\d+)\])?$/.exec(part);
    if (!m || !type) return undefined;
    if (type === 'Resource') type = value?.resourceType;
    const info = type ? propertiesOf(type)?.get(m[1]) : undefined;
    if (!info) return undefined;
    type = info.type;
    value = value?.[m[1]];
    if (m[2] !== undefined) value = Array.isArray(value) ? value[Number(m[2])] : undefined;
  }
  return type === 'Resource' ? value?.resourceType : type;
}

function upperFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
