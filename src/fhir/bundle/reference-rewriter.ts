/**
 * Replaces, everywhere in a resource, string values that are keys of `map` (urn:uuid / urn:oid fullUrls and
 * resolved conditional references) by their targets (`Type/id`). It rewrites in place (the body was parsed for
 * this request alone; copying every resource of a large Bundle was a measurable share of ingest garbage).
 */
export function rewriteReferences<T>(value: T, map: Map<string, string>): T {
  if (typeof value === 'string') return (map.get(value) ?? value) as T;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = rewriteReferences(value[i], map);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      const v = obj[k];
      if (typeof v === 'string') {
        const to = map.get(v);
        if (to !== undefined) obj[k] = to;
      } else if (v && typeof v === 'object') rewriteReferences(v, map);
    }
  }
  return value;
}

/** Every `reference` value of the form `Type?criteria` (a conditional reference to resolve by search). */
export function conditionalReferences(value: any, found: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) conditionalReferences(v, found);
  else if (value && typeof value === 'object') {
    for (const k in value) {
      const v = value[k];
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) found.add(v);
      else if (typeof v === 'object') conditionalReferences(v, found);
    }
  }
  return found;
}
