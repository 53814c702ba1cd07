import { R4Definitions } from '../definitions/r4-definitions.js';
import { FhirError } from '../operation-outcome.js';

interface TypeElements {
  summary: Set<string>;
  mandatory: Set<string>;
}

const cache = new Map<string, TypeElements>();

/** Top-level element names of a resource type flagged isSummary, and those with min > 0 (from the R4 snapshot). */
function elementsOf(resourceType: string): TypeElements {
  let e = cache.get(resourceType);
  if (e) return e;
  const sd = R4Definitions.get().structureDefinitions.get(`http://hl7.org/fhir/StructureDefinition/${resourceType}`);
  e = { summary: new Set(['id', 'meta', 'resourceType']), mandatory: new Set(['id', 'meta', 'resourceType']) };
  for (const el of sd?.snapshot?.element ?? []) {
    const parts = String(el.path).split('.');
    if (parts.length !== 2) continue;
    const name = parts[1].replace('[x]', '');
    if (el.isSummary) e.summary.add(name);
    if (el.min > 0) e.mandatory.add(name);
  }
  cache.set(resourceType, e);
  return e;
}

function keep(resource: any, wanted: (key: string) => boolean): any {
  const out: any = {};
  for (const [k, v] of Object.entries(resource)) {
    const base = k.startsWith('_') ? k.slice(1) : k;
    if (wanted(base) || wanted(choiceBase(resource.resourceType, base))) out[k] = v;
  }
  return out;
}

/** valueQuantity → value when the type has value[x] (so `_elements=value` keeps it). */
function choiceBase(_type: string, key: string): string {
  const m = /^([a-z][A-Za-z]*?)([A-Z][A-Za-z]*)$/.exec(key);
  return m ? m[1] : key;
}

function markSubsetted(resource: any): any {
  const meta = { ...(resource.meta ?? {}) };
  const tags = [...(meta.tag ?? [])];
  if (!tags.some((t: any) => t.code === 'SUBSETTED')) {
    tags.push({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'Resource encoded in summary mode' });
  }
  meta.tag = tags;
  return { ...resource, meta };
}

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';

export function parseSummary(value: string | undefined): SummaryMode | undefined {
  if (value === undefined) return undefined;
  if (!['true', 'false', 'text', 'data', 'count'].includes(value)) throw FhirError.badRequest(`Invalid _summary value "${value}"`);
  return value as SummaryMode;
}

/** Applies _summary and _elements (R4 search/read semantics) to one resource; returns it unchanged when neither applies. */
export function applySummary(resource: any, summary: SummaryMode | undefined, elements: string[] | undefined): any {
  if (summary && summary !== 'false' && summary !== 'count') {
    const e = elementsOf(resource.resourceType);
    if (summary === 'true') return markSubsetted(keep(resource, (k) => e.summary.has(k)));
    if (summary === 'text') return markSubsetted(keep(resource, (k) => k === 'text' || e.mandatory.has(k)));
    if (summary === 'data') {
      const { text: _text, ...rest } = resource;
      return markSubsetted(rest);
    }
  }
  if (elements?.length) {
    const e = elementsOf(resource.resourceType);
    const wanted = new Set(elements.map((x) => x.trim().split('.').pop()!.trim()));
    return markSubsetted(keep(resource, (k) => wanted.has(k) || e.mandatory.has(k)));
  }
  return resource;
}

export function parseElements(values: string[]): string[] | undefined {
  const list = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  return list.length ? list : undefined;
}
