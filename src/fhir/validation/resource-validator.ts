import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { R4Definitions } from '../definitions/r4-definitions.js';
import { issue, type OutcomeIssue } from '../operation-outcome.js';

/** FHIR R4 base64Binary allows whitespace between groups (the official examples wrap lines); the library does not. */
const R4_BASE64 = /^(\s*([0-9a-zA-Z+/=]){4}\s*)+$/;

let indexed = false;

/**
 * Structure validation against the R4 StructureDefinitions, by @medplum/core's validator (element names, types,
 * cardinality, required elements, choice types, primitive formats, references, contained resources, invariants),
 * with two corrections measured on the official R4 examples:
 *  - base64Binary values with line breaks are valid R4 (regex from the R4 datatype definition);
 *  - a failed invariant is confirmed with the `fhirpath` reference engine before it is reported, because the
 *    library's own FHIRPath rejects some valid resources (e.g. ras-2 on RiskAssessment without probability).
 */
export class ResourceValidator {
  private readonly defs = R4Definitions.get();

  constructor() {
    if (!indexed) {
      indexStructureDefinitionBundle(this.defs.typeBundle);
      indexStructureDefinitionBundle(this.defs.resourceBundle);
      indexed = true;
    }
  }

  /** Every issue found (errors and warnings); empty when valid. */
  validate(resource: any, profile?: any): OutcomeIssue[] {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return [issue('error', 'structure', 'A resource must be a JSON object')];
    }
    if (typeof resource.resourceType !== 'string' || !this.defs.isResourceType(resource.resourceType)) {
      return [issue('error', 'structure', `Unknown resourceType "${String(resource.resourceType)}"`, ['resourceType'])];
    }
    let found: any[];
    try {
      found = validateResource(resource, profile ? { profile } : undefined) as any[];
    } catch (e) {
      if (e instanceof OperationOutcomeError) found = (e.outcome.issue ?? []) as any[];
      else return [issue('error', 'exception', `Validation could not complete: ${(e as Error).message}`)];
    }
    return found.filter((i) => !this.isFalsePositive(resource, i)).map(normalise);
  }

  private isFalsePositive(resource: any, i: any): boolean {
    const path: string | undefined = i.expression?.[0];
    if (!path) return false;
    if (i.details?.text === 'Invalid base64Binary format') {
      const v = valueAt(resource, path);
      return typeof v === 'string' && R4_BASE64.test(v);
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

function normalise(i: any): OutcomeIssue {
  const out: OutcomeIssue = { severity: i.severity, code: i.code ?? 'invalid' };
  const text = i.details?.text;
  out.diagnostics = i.diagnostics && !i.diagnostics.startsWith('{') ? `${text}: ${i.diagnostics}` : text;
  if (i.expression?.length) out.expression = i.expression;
  return out;
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
