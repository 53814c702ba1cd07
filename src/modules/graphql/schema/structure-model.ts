import { R4Definitions } from '../../../fhir/definitions/r4-definitions.js';

/** One element of a FHIR type as GraphQL sees it (a choice element `value[x]` becomes one field per type). */
export interface ElementModel {
  /** GraphQL field name: the element name, `valueQuantity` for a choice */
  name: string;
  kind: 'primitive' | 'complex' | 'resource';
  /** FHIR primitive code (`boolean`, `date`, ...) or the GraphQL name of the complex/backbone type */
  type: string;
  array: boolean;
  /** resource types a Reference may point to (from targetProfile); empty = any */
  targets?: string[];
}

/** A FHIR complex type, backbone element or resource with its elements, derived from the R4 StructureDefinitions. */
export interface TypeModel {
  name: string;
  kind: 'datatype' | 'backbone' | 'resource';
  elements: ElementModel[];
}

const SD = 'http://hl7.org/fhir/StructureDefinition/';
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Every resource type, complex datatype and backbone element of R4 as TypeModels. Backbone elements are named by
 * their path (`Patient.contact` → `PatientContact`); `contentReference` elements (`Questionnaire.item.item`) reuse
 * the type of the element they point to.
 */
export class StructureModel {
  readonly types = new Map<string, TypeModel>();
  readonly primitives = new Set<string>();
  readonly resourceTypes: string[] = [];
  readonly datatypes: string[] = [];

  static build(defs: R4Definitions = R4Definitions.get()): StructureModel {
    const m = new StructureModel();
    const sds = [...defs.structureDefinitions.values()].filter((sd) => sd.derivation === 'specialization' || sd.type === 'Element');
    for (const sd of sds) if (sd.kind === 'primitive-type') m.primitives.add(sd.type);
    for (const sd of sds) {
      if (sd.kind === 'complex-type' && sd.type !== 'BackboneElement') {
        m.datatypes.push(sd.type);
        m.addStructure(sd, 'datatype');
      } else if (sd.kind === 'resource' && !sd.abstract) {
        m.resourceTypes.push(sd.type);
        m.addStructure(sd, 'resource');
      }
    }
    m.resourceTypes.sort();
    return m;
  }

  private addStructure(sd: any, kind: TypeModel['kind']): void {
    const elements: any[] = sd.snapshot.element;
    const pathToType = new Map<string, string>([[sd.type, sd.type]]);
    // backbone element paths first, so that contentReference can point to any of them
    for (const e of elements) {
      if (e.path === sd.type || !isBackbone(e)) continue;
      pathToType.set(e.path, e.path.split('.').map(cap).join(''));
    }
    for (const [path, name] of pathToType) {
      const children = elements.filter((e) => parentOf(e.path) === path);
      this.types.set(name, {
        name,
        kind: path === sd.type ? kind : 'backbone',
        elements: children.flatMap((e) => this.elementModels(e, pathToType)),
      });
    }
  }

  private elementModels(e: any, pathToType: Map<string, string>): ElementModel[] {
    const last = e.path.split('.').pop() as string;
    const array = e.max !== '1' && e.max !== '0';
    if (e.max === '0') return [];
    if (e.contentReference) {
      const target = pathToType.get(e.contentReference.replace(/^.*#/, ''));
      return target ? [{ name: last, kind: 'complex', type: target, array }] : [];
    }
    if (isBackbone(e)) return [{ name: last, kind: 'complex', type: pathToType.get(e.path)!, array }];
    const types: any[] = e.type ?? [];
    const choice = last.endsWith('[x]');
    const base = choice ? last.slice(0, -3) : last;
    return types.map((t) => {
      const code = fhirTypeCode(t);
      const name = choice ? base + cap(code) : base;
      if (this.primitives.has(code)) return { name, kind: 'primitive', type: code, array };
      if (code === 'Resource') return { name, kind: 'resource', type: 'Resource', array };
      const targets = (t.targetProfile ?? []).filter((p: string) => p.startsWith(SD)).map((p: string) => p.slice(SD.length));
      return { name, kind: 'complex', type: code, array, ...(code === 'Reference' ? { targets: targets.includes('Resource') ? [] : targets } : {}) };
    });
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('.'));
}

function isBackbone(e: any): boolean {
  const code = e.type?.[0]?.code;
  return !e.contentReference && e.type?.length === 1 && (code === 'BackboneElement' || code === 'Element') && e.path.includes('.');
}

/** Element ids, extension urls etc. are typed with FHIRPath system types carrying the FHIR type in an extension. */
function fhirTypeCode(t: any): string {
  if (t.code.startsWith('http://hl7.org/fhirpath/System.')) {
    return t.extension?.find((x: any) => x.url.endsWith('structuredefinition-fhir-type'))?.valueUrl ?? 'string';
  }
  return t.code;
}
