/**
 * Replaces, everywhere in a resource, string values that are keys of `map` (urn:uuid / urn:oid fullUrls and
 * resolved conditional references) by their targets (`Type/id`). Returns a new object; the input is untouched.
 */
export function rewriteReferences(value: any, map: Map<string, string>): any {
  if (typeof value === 'string') return map.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, map));
  if (value && typeof value === 'object') {
    const out: any = {};
    for (const k of Object.keys(value)) out[k] = rewriteReferences(value[k], map);
    return out;
  }
  return value;
}

/** Every `reference` value of the form `Type?criteria` (a conditional reference to resolve by search). */
export function conditionalReferences(value: any, found: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) conditionalReferences(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) found.add(v);
      else if (typeof v === 'object') conditionalReferences(v, found);
    }
  }
  return found;
}
