import { R4Definitions } from '../../definitions/r4-definitions.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'Resource encoded in summary mode' };

interface TypeElements {
  summary: Set<string>;
  mandatory: Set<string>;
  choices: Set<string>;
}
const cache = new Map<string, TypeElements>();

/** Top-level elements of a type that are in its summary (`isSummary`) or mandatory (`min > 0`), from the R4 definitions. */
function elementsOf(type: string): TypeElements {
  let e = cache.get(type);
  if (e) return e;
  e = { summary: new Set(['id', 'meta', 'implicitRules']), mandatory: new Set(['id', 'meta']), choices: new Set() };
  const sd = R4Definitions.get().structureDefinitions.get(`http://hl7.org/fhir/StructureDefinition/${type}`);
  for (const el of sd?.snapshot?.element ?? []) {
    const parts = String(el.path).split('.');
    if (parts.length !== 2) continue;
    let name = parts[1];
    if (name.endsWith('[x]')) {
      name = name.slice(0, -3);
      e.choices.add(name);
    }
    if (el.isSummary) e.summary.add(name);
    if (el.min > 0) e.mandatory.add(name);
  }
  cache.set(type, e);
  return e;
}

function keep(resource: any, wanted: (key: string) => boolean): any {
  const out: any = { resourceType: resource.resourceType };
  for (const k of Object.keys(resource)) {
    const base = k.startsWith('_') ? k.slice(1) : k;
    if (wanted(base)) out[k] = resource[k];
  }
  return out;
}

function tagSubsetted(r: any): any {
  const meta = { ...(r.meta ?? {}) };
  const tags = meta.tag ?? [];
  meta.tag = tags.some((t: any) => t.code === SUBSETTED.code && t.system === SUBSETTED.system) ? tags : [...tags, SUBSETTED];
  r.meta = meta;
  return r;
}

/** Applies `_summary` / `_elements` to one resource (a read, or each of a search result): element projection. */
export function project(resource: any, summary: string | undefined, elements: string[] | undefined): any {
  if (summary === 'data') {
    const { text: _t, ...rest } = resource;
    return tagSubsetted(rest);
  }
  const defs = elementsOf(resource.resourceType);
  const matches = (set: Set<string>) => (key: string) => {
    if (set.has(key)) return true;
    for (const c of defs.choices) if (set.has(c) && key.startsWith(c) && /^[A-Z]/.test(key.slice(c.length))) return true;
    return false;
  };
  if (summary === 'true') return tagSubsetted(keep(resource, matches(defs.summary)));
  if (summary === 'text') {
    const set = new Set([...defs.mandatory, 'text', 'id', 'meta']);
    return tagSubsetted(keep(resource, matches(set)));
  }
  if (elements?.length) {
    // `name` or `Patient.name` (the latter only for resources of that type, in a multi-type result); mandatory
    // elements always (R4: servers SHOULD return them whether requested or not)
    const set = new Set(['id', 'meta', ...defs.mandatory]);
    for (const e of elements) {
      const [a, b] = e.split('.');
      if (b === undefined) set.add(a);
      else if (a === resource.resourceType) set.add(b);
    }
    return tagSubsetted(keep(resource, matches(set)));
  }
  return resource;
}
