import { R4Definitions } from '../../definitions/r4-definitions.js';

/** What the StructureDefinitions say about one element path (e.g. `Observation.value[x]`, `HumanName.family`). */
export interface ElementInfo {
  /** FHIR type codes; several for a choice element */
  types: string[];
  choice: boolean;
  /** `#Questionnaire.item` style recursion, resolved to the path it points at */
  contentReference?: string;
}

/**
 * Static types of element paths, from the R4 base StructureDefinitions (resources and data types, no profiles).
 * The FHIRPath compiler uses it to know, at startup, the type every search expression yields, so extraction at write
 * time never has to guess a value's type from its shape.
 */
export class ElementTypes {
  private readonly elements = new Map<string, ElementInfo>();

  private constructor(defs: R4Definitions) {
    for (const sd of defs.structureDefinitions.values()) {
      if (sd.derivation === 'constraint' || !sd.snapshot?.element) continue;
      for (const e of sd.snapshot.element) {
        const path: string = e.path;
        const choice = path.endsWith('[x]');
        const key = choice ? path.slice(0, -3) : path;
        if (this.elements.has(key)) continue;
        const types = (e.type ?? []).map((t: any) => normaliseTypeCode(t.code));
        this.elements.set(key, {
          types,
          choice,
          contentReference: e.contentReference ? String(e.contentReference).replace(/^.*#/, '') : undefined,
        });
      }
    }
  }

  private static instance: ElementTypes | undefined;
  static get(): ElementTypes {
    return (this.instance ??= new ElementTypes(R4Definitions.get()));
  }

  /** The element `name` inside context `ctx` (a type name or a backbone element path), or undefined. */
  child(ctx: string, name: string): ElementInfo | undefined {
    return this.elements.get(`${ctx}.${name}`) ?? (ctx !== 'Resource' && ctx !== 'DomainResource' ? this.inherited(name) : undefined);
  }

  /** Elements every resource has (id, meta, text, ...), reached through a concrete resource type. */
  private inherited(name: string): ElementInfo | undefined {
    return this.elements.get(`DomainResource.${name}`) ?? this.elements.get(`Resource.${name}`);
  }

  /**
   * The context the children of an element of `type` at `path` live in: the element's own path for backbone
   * elements, the referenced path for content references, else the data type's name.
   */
  contextOf(path: string, info: ElementInfo, type: string): string {
    if (info.contentReference) return info.contentReference;
    if (type === 'BackboneElement' || type === 'Element') return path;
    return type;
  }
}

/** `http://hl7.org/fhirpath/System.String` (used for ids) is a plain string for our purposes. */
function normaliseTypeCode(code: string): string {
  if (code.startsWith('http://hl7.org/fhirpath/System.')) {
    const t = code.slice('http://hl7.org/fhirpath/System.'.length);
    return t === 'String' ? 'string' : t.toLowerCase();
  }
  return code;
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
