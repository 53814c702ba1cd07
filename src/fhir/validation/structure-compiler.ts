import { R4Definitions } from '../definitions/r4-definitions.js';
import { fixExpression, Invariant, isEvaluable, STRUCTURAL_CONSTRAINTS } from './invariant-compiler.js';
import { isPrimitiveType, primitiveCheck, type PrimitiveCheck } from './primitive-formats.js';
import { requiredBinding, type RequiredBinding } from './terminology-bindings.js';

/**
 * Compiles the R4 StructureDefinitions (snapshots) into lookup tables for the structure walker, lazily, once per
 * type / resource / backbone element: for each allowed JSON property name, the element it belongs to, its type,
 * cardinality and checks. Choice elements are expanded (`value[x]` → `valueQuantity`, `valueString`, ...),
 * `contentReference`s resolved to the node of the referenced backbone element, and the SimpleQuantity profile the
 * core definitions put on 55 Quantity elements is honoured (it forbids `comparator`).
 */

export const PRIMITIVE = 0;
export const COMPLEX = 1;
export const RESOURCE = 2;

const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

export interface PropRule {
  /** JSON property name, e.g. `valueQuantity` */
  readonly name: string;
  /** name of its primitive-extension sibling, e.g. `_valueString` */
  readonly extKey: string;
  /** element name in the definition, e.g. `value[x]` */
  readonly element: string;
  /** element path with the choice resolved, e.g. `Observation.valueQuantity` */
  readonly path: string;
  /** type code, e.g. `Quantity`, `dateTime`, `BackboneElement`, `Resource` */
  readonly type: string;
  readonly kind: number;
  readonly isArray: boolean;
  readonly min: number;
  readonly max: number;
  /** primitive value check */
  readonly check?: PrimitiveCheck;
  /** element-level invariants (besides the structural ones) */
  readonly constraints: Invariant[];
  /** element base name when this property is one variant of a choice element */
  readonly choice?: string;
  /** allowed Reference target resource types; undefined when any */
  readonly targets?: ReadonlySet<string>;
  /** DomainResource.contained */
  readonly contained: boolean;
  /** required binding to an enumerable ValueSet (code, Coding, CodeableConcept values) */
  readonly binding?: RequiredBinding;
  /** node of complex / backbone values, resolved on first use */
  node?: TypeNode;
  readonly nodeKey?: string;
}

export interface RequiredElement {
  readonly element: string;
  readonly path: string;
  /** JSON keys any of which satisfies the element (choice variants, `_` siblings of primitives) */
  readonly keys: string[];
}

export interface TypeNode {
  /** type name or backbone element path */
  readonly name: string;
  readonly props: Map<string, PropRule>;
  readonly required: RequiredElement[];
  /** type-level (resource root, datatype root, backbone element) invariants */
  readonly constraints: Invariant[];
  readonly isResource: boolean;
  readonly isExtension: boolean;
  readonly isReference: boolean;
  /** JSON keys holding an element (choice variants and `_` siblings included), for invariant guards */
  keysOf(element: string): string[];
  /** properties holding an element (choice variants), for the invariant prover */
  rulesOf(element: string): PropRule[];
}

interface SdIndex {
  sd: any;
  byPath: Map<string, any>;
  children: Map<string, any[]>;
}

export class StructureCompiler {
  private readonly defs = R4Definitions.get();
  private readonly nodes = new Map<string, TypeNode>();
  private readonly indexes = new Map<string, SdIndex>();

  /** Node of a concrete resource type, or undefined when the type is not an R4 resource. */
  resource(type: string): TypeNode | undefined {
    if (!this.defs.isResourceType(type)) return undefined;
    return this.typeNode(type);
  }

  /** Node of an R4 datatype (or resource) by type code or core profile URL. */
  typeNode(codeOrUrl: string): TypeNode {
    let node = this.nodes.get(codeOrUrl);
    if (!node) {
      const url = codeOrUrl.includes('/') ? codeOrUrl : CORE + codeOrUrl;
      const idx = this.index(url);
      if (!idx) throw new Error(`No R4 StructureDefinition for ${codeOrUrl}`);
      const root = idx.sd.snapshot.element[0];
      const isResource = idx.sd.kind === 'resource';
      node = this.build(idx, root.path, root, isResource ? undefined : idx.sd.type, isResource);
      this.nodes.set(codeOrUrl, node);
    }
    return node;
  }

  /** Node of the value of a complex property. */
  nodeOf(rule: PropRule): TypeNode {
    if (!rule.node) {
      const key = rule.nodeKey!;
      const hash = key.indexOf('#');
      if (hash < 0) {
        rule.node = this.typeNode(key);
      } else {
        let node = this.nodes.get(key);
        if (!node) {
          const idx = this.index(key.slice(0, hash))!;
          const path = key.slice(hash + 1);
          node = this.build(idx, path, idx.byPath.get(path), path, false);
          this.nodes.set(key, node);
        }
        rule.node = node;
      }
    }
    return rule.node;
  }

  private index(url: string): SdIndex | undefined {
    let idx = this.indexes.get(url);
    if (!idx) {
      const sd = this.defs.structureDefinitions.get(url);
      if (!sd?.snapshot?.element?.length) return undefined;
      const byPath = new Map<string, any>();
      const children = new Map<string, any[]>();
      for (const ed of sd.snapshot.element) {
        if (ed.sliceName || String(ed.id ?? '').includes(':')) continue;
        byPath.set(ed.path, ed);
        const dot = ed.path.lastIndexOf('.');
        if (dot < 0) continue;
        const parent = ed.path.slice(0, dot);
        const list = children.get(parent);
        if (list) list.push(ed);
        else children.set(parent, [ed]);
      }
      idx = { sd, byPath, children };
      this.indexes.set(url, idx);
    }
    return idx;
  }

  private build(idx: SdIndex, path: string, self: any, fhirpathBase: string | undefined, isResource: boolean): TypeNode {
    const props = new Map<string, PropRule>();
    const required: RequiredElement[] = [];
    const byElement = new Map<string, string[]>();
    const rulesByElement = new Map<string, PropRule[]>();
    for (const ed of idx.children.get(path) ?? []) {
      const element = ed.path.slice(path.length + 1);
      const rules = this.rules(idx, ed, element, isResource);
      const keys: string[] = [];
      for (const r of rules) {
        props.set(r.name, r);
        keys.push(r.name);
        if (r.kind === PRIMITIVE) keys.push(`_${r.name}`);
      }
      const name = element.endsWith('[x]') ? element.slice(0, -3) : element;
      byElement.set(name, keys);
      rulesByElement.set(name, rules);
      if ((ed.min ?? 0) > 0) required.push({ element, path: ed.path, keys });
    }
    return {
      name: path,
      props,
      required,
      constraints: invariants(self?.constraint, fhirpathBase),
      isResource,
      isExtension: path === 'Extension',
      isReference: path === 'Reference',
      keysOf: (element) => byElement.get(element) ?? [],
      rulesOf: (element) => rulesByElement.get(element) ?? [],
    };
  }

  private rules(idx: SdIndex, ed: any, element: string, inResource: boolean): PropRule[] {
    const min = ed.min ?? 0;
    const maxText: string = ed.max ?? '*';
    const max = maxText === '*' ? Infinity : Number(maxText);
    const isArray = (ed.base?.max ?? maxText) !== '1' && maxText !== '1' && max !== 0;
    const parentPath = ed.path.slice(0, ed.path.length - element.length - 1);
    const card = { isArray, min, max };
    if (ed.contentReference) {
      const target = ed.contentReference.slice(ed.contentReference.indexOf('#') + 1);
      return [rule(element, element, ed.path, 'BackboneElement', COMPLEX, card, { nodeKey: `${idx.sd.url}#${target}` })];
    }
    const choice = element.endsWith('[x]') ? element.slice(0, -3) : undefined;
    const out: PropRule[] = [];
    for (const t of ed.type ?? []) {
      let code: string = t.code;
      if (code.startsWith('http://hl7.org/fhirpath/System.')) {
        code = t.extension?.find((x: any) => x.url === FHIR_TYPE_EXT)?.valueUrl ?? 'string';
        // R4 types Resource.id as `id` (the snapshot only says System.String).
        if (inResource && element === 'id' && !parentPath.includes('.')) code = 'id';
      }
      const name = choice ? choice + code[0].toUpperCase() + code.slice(1) : element;
      const path = `${parentPath}.${name}`;
      if (code === 'BackboneElement' || code === 'Element') {
        out.push(rule(name, element, path, code, COMPLEX, card, { choice, nodeKey: `${idx.sd.url}#${ed.path}` }));
      } else if (code === 'Resource') {
        const contained = inResource && element === 'contained' && !parentPath.includes('.');
        out.push(rule(name, element, path, code, RESOURCE, card, { choice, contained }));
      } else if (isPrimitiveType(code)) {
        out.push(rule(name, element, path, code, PRIMITIVE, card, { choice, check: primitiveCheck(code), constraints: invariants(ed.constraint, path), binding: requiredBinding(ed.binding, code) }));
      } else {
        const profile: string | undefined = t.profile?.length === 1 && t.profile[0].startsWith(CORE) ? t.profile[0] : undefined;
        out.push(
          rule(name, element, path, code, COMPLEX, card, { choice, constraints: invariants(ed.constraint, path), nodeKey: profile ?? code, targets: targetsOf(t), binding: requiredBinding(ed.binding, code) }),
        );
      }
    }
    return out;
  }
}

interface RuleOptions {
  choice?: string;
  check?: PrimitiveCheck;
  constraints?: Invariant[];
  targets?: ReadonlySet<string>;
  contained?: boolean;
  nodeKey?: string;
  binding?: RequiredBinding;
}

/** Every rule has the same shape (one hidden class), which keeps the walker's property reads monomorphic. */
function rule(name: string, element: string, path: string, type: string, kind: number, card: { isArray: boolean; min: number; max: number }, o: RuleOptions): PropRule {
  return {
    name,
    extKey: `_${name}`,
    element,
    path,
    type,
    kind,
    isArray: card.isArray,
    min: card.min,
    max: card.max,
    check: o.check,
    constraints: o.constraints ?? [],
    choice: o.choice,
    targets: o.targets,
    contained: o.contained ?? false,
    binding: o.binding,
    node: undefined,
    nodeKey: o.nodeKey,
  };
}

function targetsOf(t: any): ReadonlySet<string> | undefined {
  if (t.code !== 'Reference' || !t.targetProfile?.length) return undefined;
  const set = new Set<string>();
  for (const p of t.targetProfile as string[]) {
    if (!p.startsWith(CORE)) return undefined;
    const name = p.slice(CORE.length);
    if (name === 'Resource') return undefined;
    set.add(name);
  }
  return set;
}

const invariantCache = new Map<string, Invariant>();

function invariants(constraints: any[] | undefined, base: string | undefined): Invariant[] {
  const out: Invariant[] = [];
  for (const c of constraints ?? []) {
    if (c.severity !== 'error' || !c.expression || STRUCTURAL_CONSTRAINTS.has(c.key) || !isEvaluable(c.expression)) continue;
    const expression = fixExpression(c.key, c.expression);
    // txt-1 and txt-2 are both `htmlChecks()`: one evaluation, one issue naming both.
    const same = out.findIndex((i) => i.expression === expression);
    const key = same < 0 ? c.key : `${out[same].key}, ${c.key}`;
    const human = same < 0 ? (c.human ?? '') : `${out[same].human}; ${c.human ?? ''}`;
    const k = `${base ?? ''}|${key}|${expression}`;
    let inv = invariantCache.get(k);
    if (!inv) {
      inv = new Invariant(key, human, expression, base);
      invariantCache.set(k, inv);
    }
    if (same < 0) out.push(inv);
    else out[same] = inv;
  }
  return out;
}
