import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { R4Definitions } from '../definitions/r4-definitions.js';
import { issue, type OutcomeIssue } from '../operation-outcome.js';
import { elementTypeAt, r4JsonRuleIssues } from './r4-json-rules.js';
import { StructureValidator } from './structure-validator.js';

/**
 * FHIR R4 base64Binary allows whitespace between groups (the official examples wrap lines); the library does not.
 * The R4 regex `(\s*([0-9a-zA-Z\+\=]){4}\s*)+` is checked without it: a backtracking engine overflows its stack
 * on a value of a few MB.
 */
function isR4Base64(v: string): boolean {
  const s = v.replace(/\s+/g, '');
  return s.length > 0 && s.length % 4 === 0 && /^[0-9a-zA-Z+/=]+$/.test(s);
}

let indexed = false;

/**
 * Structure validation against the R4 StructureDefinitions, by @medplum/core's validator (element names, types,
 * cardinality, required elements, choice types, primitive formats, references, contained resources, invariants),
 * with two corrections measured on the official R4 examples:
 *  - base64Binary values with line breaks are valid R4 (regex from the R4 datatype definition), and the 1 MB limit of
 *    R4 strings does not apply to them (a Binary or an Attachment may be larger);
 *  - a failed invariant is confirmed with the `fhirpath` reference engine before it is reported, because the
 *    library's own FHIRPath rejects some valid resources (e.g. ras-2 on RiskAssessment without probability).
 */
export class ResourceValidator {
  private readonly defs = R4Definitions.get();

  /** @medplum/core's schema is built on the first profile validation only: it costs ~100 MB and a second. */
  private indexLibrary(): void {
    if (indexed) return;
    indexStructureDefinitionBundle(this.defs.typeBundle);
    indexStructureDefinitionBundle(this.defs.resourceBundle);
    indexed = true;
  }

  private readonly structure = new StructureValidator();

  /**
   * Every issue found (errors and warnings); empty when valid. Without a profile (every write) the compiled R4
   * structure validator (structure-validator.ts) does the work, about ten times cheaper than the library's generic
   * crawler; with a profile (`$validate?profile=`: slicing, fixed and pattern values...) the library does.
   */
  validate(resource: any, profile?: any): OutcomeIssue[] {
    if (profile) return this.validateWithLibrary(resource, profile);
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return [issue('error', 'structure', 'A resource must be a JSON object')];
    }
    if (typeof resource.resourceType !== 'string' || !this.defs.isResourceType(resource.resourceType)) {
      return [issue('error', 'structure', `Unknown resourceType "${String(resource.resourceType)}"`, ['resourceType'])];
    }
    return this.structure.validate(resource);
  }

  /** Validation by @medplum/core (against the base type, or `profile`), with the corrections described above. */
  validateWithLibrary(resource: any, profile?: any): OutcomeIssue[] {
    this.indexLibrary();
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return [issue('error', 'structure', 'A resource must be a JSON object')];
    }
    if (typeof resource.resourceType !== 'string' || !this.defs.isResourceType(resource.resourceType)) {
      return [issue('error', 'structure', `Unknown resourceType "${String(resource.resourceType)}"`, ['resourceType'])];
    }
    const extra = r4JsonRuleIssues(resource);
    let found: any[];
    try {
      found = validateResource(withoutUnknownContained(resource), profile ? { profile } : undefined) as any[];
    } catch (e) {
      if (e instanceof OperationOutcomeError) found = (e.outcome.issue ?? []) as any[];
      else return [issue('error', 'exception', `Validation could not complete: ${(e as Error).message}`)];
    }
    const issues = found
      .filter((i) => !this.isFalsePositive(resource, i) && !String(i.details?.text).startsWith('Conflicting choice of type')) // an error below says it
      .map((i) => normalise(resource, i));
    const located = new Set(issues.flatMap((i) => i.expression ?? []));
    // one issue per location: the library's when it found the same problem
    return [...issues, ...extra.filter((i) => !i.expression?.some((x) => located.has(x)))];
  }

  private isFalsePositive(resource: any, i: any): boolean {
    const path: string | undefined = i.expression?.[0];
    if (!path) return false;
    if (i.details?.text === 'Invalid base64Binary format' || (i.details?.text === 'String cannot be larger than 1 MB' && elementTypeAt(resource, path) === 'base64Binary')) {
      const v = valueAt(resource, path);
      return typeof v === 'string' && isR4Base64(v);
    }
    if (i.code === 'invariant' && i.diagnostics) {
      try {
        const expr = JSON.parse(i.diagnostics).fhirpath as string;
        const node = valueAt(resource, path);
        const base = path.replace(/\[\d+\]/g, '');
        const result = (
          base.includes('.')
            ? fhirpath.evaluate(node, { base, expression: expr }, undefined, r4Model as any)
            : fhirpath.evaluate(resource, expr, undefined, r4Model as any)
        ) as unknown[];
        // An invariant holds when it evaluates to true, or to empty (nothing to check).
        return result.length === 0 || (result.length === 1 && result[0] === true);
      } catch {
        return false;
      }
    }
    return false;
  }
}

function normalise(resource: any, i: any): OutcomeIssue {
  const out: OutcomeIssue = { severity: i.severity, code: i.code ?? 'invalid' };
  const text = i.details?.text;
  out.diagnostics = i.diagnostics && !i.diagnostics.startsWith('{') ? `${text}: ${i.diagnostics}` : text;
  if (i.expression?.length) out.expression = i.expression.map((x: string) => toFhirPath(resource, x));
  return out;
}

/**
 * The library locates a choice element as `Observation.value[x]`, which is not FHIRPath; the type present in the
 * resource turns it into `Observation.value.ofType(Quantity)`.
 */
function toFhirPath(resource: any, location: string): string {
  if (!location.includes('[x]')) return location;
  const parts = location.split('.');
  let cur: any = resource;
  const out = [parts[0]];
  for (const part of parts.slice(1)) {
    const m = /^([^[]+)(\[x\])?(?:\[(\d+)\])?$/.exec(part);
    if (!m) return location;
    let key = m[1];
    let segment = part;
    if (m[2]) {
      key = Object.keys(cur ?? {}).find((k) => k.startsWith(m[1]) && /^[A-Z]/.test(k.slice(m[1].length))) ?? '';
      if (!key) return location;
      const suffix = key.slice(m[1].length);
      const type = PRIMITIVES.has(lowerFirst(suffix)) ? lowerFirst(suffix) : suffix;
      segment = `${m[1]}.ofType(${type})${m[3] !== undefined ? `[${m[3]}]` : ''}`;
    }
    out.push(segment);
    cur = cur?.[key];
    if (m[3] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[3])] : undefined;
  }
  return out.join('.');
}

const PRIMITIVES = new Set(['base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer', 'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid']);

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/**
 * The library stops at the first contained resource of an unknown type, so the rest would go unchecked; such an
 * entry (reported by r4JsonRuleIssues) is swapped for a neutral one that keeps the indexes of the others.
 */
function withoutUnknownContained(resource: any): any {
  if (!Array.isArray(resource.contained)) return resource;
  const defs = R4Definitions.get();
  if (resource.contained.every((c: any) => typeof c?.resourceType === 'string' && defs.isResourceType(c.resourceType))) return resource;
  return {
    ...resource,
    contained: resource.contained.map((c: any) =>
      typeof c?.resourceType === 'string' && defs.isResourceType(c.resourceType)
        ? c
        : { resourceType: 'Basic', ...(typeof c?.id === 'string' ? { id: c.id } : {}), code: { text: 'unknown' } },
    ),
  };
}

/** Follows a simple FHIRPath location like `Binary.data` or `DiagnosticReport.presentedForm[0].data`. */
function valueAt(resource: any, path: string): unknown {
  const parts = path.split('.').slice(1);
  let cur: any = resource;
  for (const part of parts) {
    const m = /^([^[]+)(?:\[(\d+)\])?$/.exec(part);
    if (!m || cur == null) return undefined;
    cur = cur[m[1]];
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[2])] : undefined;
  }
  return cur;
}
