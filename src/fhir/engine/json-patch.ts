import jsonPatch from 'fast-json-patch';
import { FhirError } from '../operation-outcome.js';

/** Applies an RFC 6902 JSON Patch to a copy of the resource; a malformed or inapplicable patch is a 4xx, never a 500. */
export function applyJsonPatch(resource: any, patch: unknown): any {
  if (!Array.isArray(patch)) throw FhirError.badRequest('A JSON Patch body must be an array of operations');
  for (const [i, op] of patch.entries()) {
    if (!op || typeof op !== 'object' || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw FhirError.badRequest(`JSON Patch operation ${i} must have "op" and "path"`);
    }
  }
  let patched: any;
  try {
    patched = jsonPatch.applyPatch(jsonPatch.deepClone(resource), patch as any, true, true).newDocument;
  } catch (e: any) {
    const msg = `JSON Patch failed at operation ${e?.index ?? '?'}: ${String(e?.message ?? e).split('\n')[0]}`;
    // A failed "test" op is a precondition that did not hold; other failures are an unprocessable patch.
    throw e?.name === 'TEST_OPERATION_FAILED' ? FhirError.preconditionFailed(msg) : new FhirError(422, msg, 'processing');
  }
  if (patched?.resourceType !== resource.resourceType) throw FhirError.badRequest('A patch may not change resourceType');
  if (patched?.id !== resource.id) throw FhirError.badRequest('A patch may not change the resource id');
  return patched;
}
