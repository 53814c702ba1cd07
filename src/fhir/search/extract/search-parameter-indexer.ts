import type { SearchParamDef, SearchParamRegistry } from '../params/search-param-registry.js';
import type { TypedValues } from './fhirpath-compiler.js';
import { IndexRows, type CompositePart } from './index-rows.js';
import { dateRange, isoInstant, MAX_INSTANT, MIN_INSTANT } from '../values/date-range.js';
import { foldText } from '../values/text-fold.js';
import { canonicalQuantity, UCUM } from '../values/ucum.js';
import { parseReference } from '../values/reference.js';
import { collectContent, collectNarrative } from './content-text.js';
import { NEAR_LATITUDE_PID, NEAR_LONGITUDE_PID, positionOf } from '../values/position.js';
import { indexedView } from './managed-records.js';

/**
 * Turns a resource into its search index rows: every applicable SearchParameter's expression (compiled once) is
 * evaluated, and each value is stored in the typed form its parameter type searches on.
 */
export class SearchParameterIndexer {
  constructor(private readonly registry: SearchParamRegistry) {}

  extract(stored: any): IndexRows {
    return this.extractInto(new IndexRows(), stored);
  }

  /** Adds the resource's rows after those `rows` already holds (IndexRows.begin): many resources in one IndexRows. */
  extractInto(rows: IndexRows, stored: any): IndexRows {
    const resource = indexedView(stored);
    rows.begin();
    for (const def of this.registry.indexed(resource.resourceType)) {
      const typed = def.evaluate!(resource, resource);
      if (!typed.length) continue;
      if (def.type === 'composite') this.composite(rows, def, typed, resource);
      else for (const tv of typed) addValues(rows, def, tv);
    }
    const position = resource.resourceType === 'Location' ? positionOf(resource) : undefined;
    if (position) {
      rows.addNumber(NEAR_LATITUDE_PID, String(position[0]), String(position[0]));
      rows.addNumber(NEAR_LONGITUDE_PID, String(position[1]), String(position[1]));
    }
    rows.content = collectContent(resource);
    rows.narrative = collectNarrative(resource);
    const patient = this.registry.get(resource.resourceType, 'patient');
    rows.linkPatient(patient?.type === 'reference' ? patient.pid : undefined);
    return rows;
  }

  private composite(rows: IndexRows, def: SearchParamDef, typed: TypedValues[], resource: any): void {
    const comps = def.components ?? [];
    if (comps.length < 2 || comps.length > 3) return;
    for (const tv of typed) {
      for (const node of tv.values) {
        const parts = comps.map((c) => componentParts(c.type, c.evaluatorFor(tv.ctx)(node, resource)));
        if (parts.some((p) => !p.length)) continue;
        for (const a of parts[0]) for (const b of parts[1]) {
          if (parts.length === 3) for (const c of parts[2]) rows.addComposite(def.pid, a, b, c);
          else rows.addComposite(def.pid, a, b);
        }
      }
    }
  }
}

/** Adds the rows for values of one static type. */
export function addValues(rows: IndexRows, def: SearchParamDef, tv: TypedValues): void {
  const pid = def.pid;
  switch (def.type) {
    case 'token':
      for (const v of tv.values) tokenValue(rows, pid, tv.type, v);
      return;
    case 'string':
      for (const v of tv.values) stringValue(rows, pid, tv.type, v);
      return;
    case 'date':
      for (const v of tv.values) {
        const r = dateValue(tv.type, v);
        if (r) rows.addDate(pid, isoInstant(r.lo), isoInstant(r.hi));
      }
      return;
    case 'number':
      for (const v of tv.values) {
        const n = typeof v === 'number' ? v : typeof v?.value === 'number' ? v.value : undefined;
        if (n !== undefined && Number.isFinite(n)) rows.addNumber(pid, String(n), String(n));
      }
      return;
    case 'quantity':
      for (const v of tv.values) quantityValue(rows, pid, tv.type, v);
      return;
    case 'reference':
      for (const v of tv.values) referenceValue(rows, def, tv.type, v);
      return;
    case 'uri':
      for (const v of tv.values) if (typeof v === 'string' && v) rows.addUri(pid, v);
      return;
  }
}

/** Where tokenValue puts its rows: an IndexRows, or the parts of a composite. */
type TokenSink = Pick<IndexRows, 'addToken'>;

function tokenValue(rows: TokenSink, pid: number, type: string, v: any): void {
  if (v === null || v === undefined) return;
  switch (type) {
    case 'CodeableConcept':
      if (Array.isArray(v.coding)) for (const c of v.coding) if (c) rows.addToken(pid, c.system, c.code, c.display ? foldText(c.display) : null);
      if (typeof v.text === 'string') rows.addToken(pid, null, null, foldText(v.text));
      return;
    case 'Coding':
      rows.addToken(pid, v.system, v.code, v.display ? foldText(v.display) : null);
      return;
    case 'Identifier':
      if (v.value === undefined && v.system === undefined) return;
      rows.addToken(pid, v.system, v.value, v.type?.text ? foldText(v.type.text) : null);
      // `identifier:of-type=typeSystem|typeCode|value` rows live under the parameter's of-type key
      if (Array.isArray(v.type?.coding) && v.value !== undefined)
        for (const c of v.type.coding) if (c?.code) rows.addToken(ofTypePid(pid), c.system ?? null, c.code, v.value);
      return;
    case 'ContactPoint':
      if (v.value !== undefined) rows.addToken(pid, v.system ?? null, v.value, null);
      return;
    case 'Reference':
      if (typeof v.reference === 'string') rows.addToken(pid, null, v.reference, v.display ? foldText(v.display) : null);
      return;
    case 'Quantity':
    case 'Age':
    case 'Duration':
      if (v.code !== undefined) rows.addToken(pid, v.system, v.code, null);
      return;
    case 'boolean':
      rows.addToken(pid, null, v ? 'true' : 'false', null);
      return;
    default:
      if (typeof v === 'string' || typeof v === 'number') rows.addToken(pid, null, String(v), null);
  }
}

/** The of-type key of an identifier parameter (its rows: sys = type system, code = type code, txt = value). */
export function ofTypePid(pid: number): number {
  return (pid ^ 0x5bd1e995) | 0;
}

const HUMAN_NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function stringValue(rows: IndexRows, pid: number, type: string, v: any): void {
  if (typeof v === 'string') {
    if (v) rows.addString(pid, foldText(v), v);
    return;
  }
  if (!v || typeof v !== 'object') return;
  const parts = type === 'HumanName' ? HUMAN_NAME_PARTS : type === 'Address' ? ADDRESS_PARTS : undefined;
  if (parts) {
    for (const p of parts) {
      const x = v[p];
      if (typeof x === 'string') rows.addString(pid, foldText(x), x);
      else if (Array.isArray(x)) for (const s of x) if (typeof s === 'string') rows.addString(pid, foldText(s), s);
    }
    return;
  }
  if (type === 'CodeableConcept') {
    if (v.text) rows.addString(pid, foldText(v.text), v.text);
    for (const c of v.coding ?? []) if (c?.display) rows.addString(pid, foldText(c.display), c.display);
  } else if (type === 'Coding' && v.display) rows.addString(pid, foldText(v.display), v.display);
  else if (typeof v.text === 'string') rows.addString(pid, foldText(v.text), v.text);
}

/** The instant range of a date-like value of the given type. */
export function dateValue(type: string, v: any): { lo: number; hi: number } | undefined {
  if (typeof v === 'string') return dateRange(v);
  if (!v || typeof v !== 'object') return undefined;
  if (type === 'Period') {
    const s = typeof v.start === 'string' ? dateRange(v.start) : undefined;
    const e = typeof v.end === 'string' ? dateRange(v.end) : undefined;
    if (!s && !e) return undefined;
    return { lo: s ? s.lo : MIN_INSTANT, hi: e ? e.hi : MAX_INSTANT };
  }
  if (type === 'Timing') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const ev of v.event ?? []) {
      const r = typeof ev === 'string' ? dateRange(ev) : undefined;
      if (r) {
        lo = Math.min(lo, r.lo);
        hi = Math.max(hi, r.hi);
      }
    }
    const b = v.repeat?.boundsPeriod ? dateValue('Period', v.repeat.boundsPeriod) : undefined;
    if (b) {
      lo = Math.min(lo, b.lo);
      hi = Math.max(hi, b.hi);
    }
    return lo <= hi ? { lo, hi } : undefined;
  }
  return undefined;
}

function quantityValue(rows: IndexRows, pid: number, type: string, v: any): void {
  if (!v || typeof v !== 'object') return;
  if (type === 'Range') {
    const lo = typeof v.low?.value === 'number' ? v.low.value : undefined;
    const hi = typeof v.high?.value === 'number' ? v.high.value : undefined;
    if (lo === undefined && hi === undefined) return;
    const unit = v.low ?? v.high;
    rows.addQuantity(pid, unit.system ?? null, unit.code ?? unit.unit ?? null, lo === undefined ? null : String(lo), hi === undefined ? null : String(hi));
    return;
  }
  if (typeof v.value !== 'number') return;
  const value = String(v.value);
  if (type === 'Money') {
    rows.addQuantity(pid, 'urn:iso:std:iso:4217', v.currency ?? null, value, value);
    return;
  }
  const code: string | null = v.code ?? v.unit ?? null;
  let canon: { code: string; lo: string; hi: string } | undefined;
  if (v.system === UCUM && typeof v.code === 'string') {
    const c = canonicalQuantity(v.code, v.value);
    if (c) canon = { code: c.code, lo: String(c.value), hi: String(c.value) };
  }
  rows.addQuantity(pid, v.system ?? null, code, value, value, canon);
}

function referenceValue(rows: IndexRows, def: SearchParamDef, type: string, v: any): void {
  const pid = def.pid;
  if (typeof v === 'string') {
    // canonical / uri typed references (e.g. QuestionnaireResponse.questionnaire)
    const bar = v.indexOf('|');
    const url = bar >= 0 ? v.slice(0, bar) : v;
    const ver = bar >= 0 ? v.slice(bar + 1) : null;
    const rel = parseReference(url);
    rows.addReference(pid, rel?.type ?? (def.targets.length === 1 ? def.targets[0] : null), rel?.id ?? null, ver, url, null, null);
    return;
  }
  if (!v || typeof v !== 'object' || type !== 'Reference') return;
  if (typeof v.reference === 'string' && !v.reference.startsWith('#')) {
    const p = parseReference(v.reference);
    if (p) rows.addReference(pid, p.type, p.id, p.version ?? null, p.absolute ? v.reference : null, null, null);
    else rows.addReference(pid, v.type ?? null, null, null, v.reference, null, null);
  }
  const ident = v.identifier;
  if (ident && (ident.value !== undefined || ident.system !== undefined)) {
    rows.addReference(pid, v.type ?? null, null, null, null, ident.system ?? null, ident.value ?? null);
  }
}

function componentParts(type: string, typed: TypedValues[]): CompositePart[] {
  const out: CompositePart[] = [];
  for (const tv of typed) {
    for (const v of tv.values) {
      if (type === 'token') tokenParts(tv.type, v, out);
      else if (type === 'quantity' || type === 'number') {
        if (typeof v === 'number') out.push({ lo: String(v), hi: String(v) });
        else if (tv.type === 'Range') out.push({ sys: v.low?.system ?? v.high?.system, code: v.low?.code ?? v.high?.code, lo: numText(v.low?.value), hi: numText(v.high?.value) });
        else if (typeof v?.value === 'number') out.push({ sys: v.system ?? null, code: v.code ?? v.unit ?? null, lo: String(v.value), hi: String(v.value) });
      } else if (type === 'date') {
        const r = dateValue(tv.type, v);
        if (r) out.push({ dlo: isoInstant(r.lo), dhi: isoInstant(r.hi) });
      } else if (type === 'string') {
        if (typeof v === 'string') out.push({ code: foldText(v) });
      } else if (type === 'reference' && typeof v?.reference === 'string') out.push({ code: v.reference });
      else if (type === 'uri' && typeof v === 'string') out.push({ code: v });
    }
  }
  return out;
}

/**
 * A token component's parts: the rows tokenValue gives for one value that have a code, each (key, system, code,
 * text) once as IndexRows would keep them. (It used to fill a whole IndexRows per value: a sixth of the bytes the
 * hub allocated during ingest.)
 */
function tokenParts(type: string, v: any, out: CompositePart[]): void {
  const start = out.length;
  const seen: [number, string | null][] = [];
  tokenValue(
    {
      addToken(pid, sys, code, txt) {
        if (code === null || code === undefined) return;
        const s = sys ?? null;
        const t = txt ?? null;
        for (let i = start; i < out.length; i++) if (out[i].sys === s && out[i].code === code && seen[i - start][0] === pid && seen[i - start][1] === t) return;
        out.push({ sys: s, code });
        seen.push([pid, t]);
      },
    },
    0,
    type,
    v,
  );
}

function numText(n: unknown): string | null {
  return typeof n === 'number' ? String(n) : null;
}
