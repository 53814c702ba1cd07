import { compileSearchExpression } from '../fhir/search/extract/fhirpath-compiler.js';
import type { FieldRule, MatchingRules, Normalizer } from './matching-rules.js';

/** A Patient reduced to the normalised values the rules compare: field name → values (possibly none). */
export type PatientFeatures = Record<string, string[]>;

type Evaluator = (resource: any) => any[];

const compiled = new Map<string, Evaluator>();

function evaluator(path: string): Evaluator {
  let fn = compiled.get(path);
  if (!fn) {
    // the search module's FHIRPath compiler: plain paths and the usual where() idioms become native property walks,
    // anything else runs on fhirpath.js
    const f = compileSearchExpression(path, 'Patient');
    fn = (resource) => {
      try {
        return f(resource, resource).flatMap((tv) => tv.values);
      } catch {
        return [];
      }
    };
    compiled.set(path, fn);
  }
  return fn;
}

/** Lower case, accents and everything but letters removed ("O'Brien-Smith" → "obriensmith"). */
export function normalizeName(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z]/g, '');
}

function normalizeOne(kind: Normalizer, raw: any): string[] {
  if (raw === null || raw === undefined) return [];
  if (kind === 'identifier') {
    const system = String(raw.system ?? '').trim();
    const value = String(raw.value ?? '').replace(/\s+/g, '');
    return system && value ? [`${system}|${value}`] : [];
  }
  if (typeof raw !== 'string') raw = String(raw);
  switch (kind) {
    case 'name': {
      const n = normalizeName(raw);
      return n ? [n] : [];
    }
    case 'date':
      // full dates and partial ones (YYYY, YYYY-MM); a dateTime keeps its date
      return /^\d{4}(-\d{2}(-\d{2})?)?/.test(raw) ? [raw.slice(0, 10)] : [];
    case 'code':
      return raw.trim() ? [raw.trim().toLowerCase()] : [];
    case 'phone': {
      const digits = raw.replace(/\D/g, '');
      // the national number without trunk or country prefix
      return digits.length >= 6 ? [digits.slice(-9)] : [];
    }
    case 'email':
      return raw.includes('@') ? [raw.trim().toLowerCase()] : [];
    case 'postcode': {
      const p = raw.toUpperCase().replace(/\s+/g, '');
      return p ? [p] : [];
    }
    case 'tokens':
      return raw.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  }
}

function fieldValues(field: FieldRule, resource: any): string[] {
  const out = new Set<string>();
  for (const raw of evaluator(field.fhirPath)(resource)) for (const v of normalizeOne(field.normalize, raw)) out.add(v);
  return [...out];
}

/** The features of a Patient under the given rules (fields with no value are left out). */
export function extractFeatures(rules: MatchingRules, patient: any): PatientFeatures {
  const f: PatientFeatures = {};
  for (const field of rules.fields) {
    const values = fieldValues(field, patient);
    if (values.length) f[field.name] = field.normalize === 'tokens' ? values.sort() : values;
  }
  return f;
}
