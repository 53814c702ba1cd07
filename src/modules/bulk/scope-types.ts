/**
 * Resource types that SMART scopes allow reading: `system|user|patient/(Type|*).(read|*)` (v1) and
 * `.../(Type|*).<cruds>` containing `r` (v2). Scopes with a query (`system/Observation.rs?category=x`) grant only
 * part of a type, which an export cannot honour, so they grant nothing here. The authorize stage decides whether
 * the kick-off is allowed at all; this narrows what the export holds to what the token may read.
 */
export function readableTypes(scopes: string[], allTypes: string[]): Set<string> {
  const out = new Set<string>();
  for (const scope of scopes) {
    const m = /^(system|user|patient)\/([A-Za-z]+|\*)\.([a-z*]+)$/.exec(scope);
    if (!m) continue;
    const [, , type, perm] = m;
    const reads = perm === 'read' || perm === '*' || (/^c?r?u?d?s?$/.test(perm) && perm.includes('r'));
    if (!reads) continue;
    if (type === '*') return new Set(allTypes);
    out.add(type);
  }
  return out;
}
