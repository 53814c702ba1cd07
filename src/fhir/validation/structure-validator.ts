import type { IssueSeverity, OutcomeIssue } from '../operation-outcome.js';
import { mustEvaluate, type Env, type Invariant, type InvariantContext } from './invariant-compiler.js';
import { parseReferenceCached } from './reference-format.js';
import { PRIMITIVE, RESOURCE, StructureCompiler, type PropRule, type TypeNode } from './structure-compiler.js';

/**
 * Base R4 validation of a resource against the core StructureDefinitions, by walking the instance (never the
 * definitions) with the tables of the StructureCompiler: unknown properties, JSON types and primitive formats,
 * array vs single values, cardinality, required elements, empty values and nulls (ele-1), extensions (ext-1),
 * references (format, contained targets: ref-1, target types), contained resources (dom-2 .. dom-5), nested
 * resources validated by their own resourceType, the FHIRPath invariants of the elements present, and the codes of
 * elements with a required binding to an enumerable ValueSet (terminology-bindings.ts).
 * Every issue found is reported, with a FHIRPath location such as `Observation.component[1].valueQuantity.value`.
 */
export class StructureValidator {
  constructor(private readonly compiler = new StructureCompiler()) {}

  validate(resource: unknown): OutcomeIssue[] {
    const walk = new Walk(this.compiler);
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      walk.report('error', 'structure', 'A resource must be a JSON object');
    } else {
      walk.root(resource);
    }
    return walk.issues;
  }
}

const URI_TYPES = new Set(['uri', 'url', 'canonical']);
/** A primitive value seen by invariant guards: it has none of the properties an expression may name. */
const NO_CHILDREN = Object.freeze({});
const NO_NODE = { keysOf: () => [] as string[], rulesOf: () => [] };

class Walk {
  readonly issues: OutcomeIssue[] = [];
  /** location of the value being checked: property names and array indexes */
  private readonly segs: (string | number)[] = [];
  private env: Env = { resource: undefined, rootResource: undefined };
  /** `#...` references seen in the current resource and its contained resources (for dom-3) */
  private localRefs: Set<string> | undefined;
  /** index of the contained resource being walked */
  private containedIndex = -1;
  private elementNode: TypeNode | undefined;
  /** inside a transaction or batch Bundle, where conditional references (`Type?criteria`) are allowed */
  private inTransaction = false;

  constructor(private readonly compiler: StructureCompiler) {}

  root(resource: any): void {
    const type = resource.resourceType;
    this.segs.push(typeof type === 'string' && type ? type : 'Resource');
    this.resource(resource, false);
  }

  report(severity: IssueSeverity, code: string, diagnostics: string, child?: string): void {
    let loc = '';
    for (const s of this.segs) loc += typeof s === 'number' ? `[${s}]` : loc ? `.${s}` : s;
    if (child !== undefined) loc = loc ? `${loc}.${child}` : child;
    const i: OutcomeIssue = { severity, code, diagnostics };
    if (loc) i.expression = [loc];
    this.issues.push(i);
  }

  private resource(obj: any, contained: boolean): void {
    const type = obj.resourceType;
    if (typeof type !== 'string') {
      this.report('error', type === undefined ? 'required' : 'structure', type === undefined ? 'Missing resourceType' : 'resourceType must be a string', 'resourceType');
      return;
    }
    const node = this.compiler.resource(type);
    if (!node) {
      this.report('error', 'structure', `Unknown resourceType "${type}"`, 'resourceType');
      return;
    }
    const env = this.env;
    const localRefs = this.localRefs;
    const inTransaction = this.inTransaction;
    if (type === 'Bundle' && (obj.type === 'transaction' || obj.type === 'batch')) this.inTransaction = true;
    if (contained) {
      this.env = { resource: obj, rootResource: env.rootResource };
      this.containedRules(obj);
    } else {
      this.env = { resource: obj, rootResource: obj };
      this.localRefs = Array.isArray(obj.contained) && obj.contained.length ? new Set() : undefined;
    }
    this.object(obj, node, false);
    if (!contained) {
      if (this.localRefs) this.containedReferenced(obj.contained);
      this.localRefs = localRefs;
    }
    this.env = env;
    this.inTransaction = inTransaction;
  }

  /** dom-2, dom-4, dom-5: what a contained resource may not have. */
  private containedRules(obj: any): void {
    if (obj.contained !== undefined) this.report('error', 'invariant', 'dom-2: a contained resource SHALL NOT contain nested resources', 'contained');
    const meta = obj.meta;
    if (meta === null || typeof meta !== 'object') return;
    if (meta.versionId !== undefined || meta.lastUpdated !== undefined) {
      this.report('error', 'invariant', 'dom-4: a contained resource SHALL NOT have a meta.versionId or a meta.lastUpdated', 'meta');
    }
    if (meta.security !== undefined) this.report('error', 'invariant', 'dom-5: a contained resource SHALL NOT have a security label', 'meta.security');
  }

  /** dom-3: every contained resource is referenced from elsewhere in the resource, or refers to its container. */
  private containedReferenced(contained: any[]): void {
    for (let i = 0; i < contained.length; i++) {
      const id = contained[i]?.id;
      if (typeof id !== 'string' || this.localRefs!.has(`#${id}`) || this.localRefs!.has(`#@${i}`)) continue;
      this.report('error', 'invariant', `dom-3: the contained resource "${id}" SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource`, `contained[${i}]`);
    }
  }

  private object(obj: any, node: TypeNode, hasValue: boolean): void {
    let count = 0;
    let choices: string[] | undefined;
    const keys = Object.keys(obj);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      const v = obj[key];
      if (v === undefined) continue;
      count++;
      let rule = node.props.get(key);
      if (rule === undefined) {
        if (key.charCodeAt(0) === 95 /* _ */) {
          rule = node.props.get(key.slice(1));
          if (rule !== undefined && rule.kind === PRIMITIVE) {
            if (obj[rule.name] === undefined) {
              if (rule.choice !== undefined) choices = this.choice(choices, rule);
              this.segs.push(rule.name);
              this.primitive(rule, undefined, v);
              this.segs.pop();
            }
            continue;
          }
        } else if (key === 'resourceType' && node.isResource) {
          continue;
        }
        this.report('error', 'structure', `Unknown property "${key}"`, key);
        continue;
      }
      if (rule.choice !== undefined) choices = this.choice(choices, rule);
      this.segs.push(key);
      if (rule.max === 0) this.report('error', 'structure', `${rule.path} is not allowed here (max 0)`);
      else if (rule.kind === PRIMITIVE) this.primitive(rule, v, obj[rule.extKey]);
      else if (rule.isArray) this.array(rule, v);
      else if (Array.isArray(v)) this.report('error', 'structure', `Expected a single value for ${rule.path}, not an array`);
      else this.complex(rule, v);
      this.segs.pop();
    }
    if (count === 0) {
      this.report('error', 'structure', 'Invalid empty object (ele-1: an element must have a value or children)');
      return;
    }
    if (!node.isResource && !hasValue && count === 1 && obj.id !== undefined) {
      this.report('error', 'invariant', 'ele-1: an element must have a value or children besides id');
    }
    const required = node.required;
    for (let i = 0; i < required.length; i++) {
      const keys = required[i].keys;
      let found = false;
      for (let j = 0; j < keys.length && !found; j++) found = obj[keys[j]] !== undefined;
      if (!found) this.report('error', 'required', `Missing required element ${required[i].path}`, required[i].element.replace('[x]', ''));
    }
    if (node.isExtension) {
      const value = choices !== undefined && choices.includes('value');
      if (value === (obj.extension !== undefined)) {
        this.report('error', 'invariant', 'ext-1: an extension must have either extensions or value[x], not both');
      }
    }
    if (node.constraints.length) this.invariants(node.constraints, obj, obj, node);
  }

  /** Records a choice variant; reports a second variant of the same choice element. */
  private choice(choices: string[] | undefined, rule: PropRule): string[] {
    const list = choices ?? [];
    if (list.includes(rule.choice!)) {
      this.report('error', 'structure', `Only one ${rule.choice}[x] may be present`, rule.name);
    } else {
      list.push(rule.choice!);
    }
    return list;
  }

  private primitive(rule: PropRule, v: any, ext: any): void {
    if (!rule.isArray) {
      if (Array.isArray(v) || Array.isArray(ext)) {
        this.report('error', 'structure', `Expected a single value for ${rule.path}, not an array`);
        return;
      }
      if (v === null) this.report('error', 'structure', 'Invalid null value');
      else if (v !== undefined) this.primitiveValue(rule, v);
      if (ext !== undefined) this.elementOf(ext, v !== undefined && v !== null);
      return;
    }
    if ((v !== undefined && !Array.isArray(v)) || (ext !== undefined && !Array.isArray(ext))) {
      this.report('error', 'structure', `Expected an array for ${rule.path}`);
      return;
    }
    const n = Math.max(v?.length ?? 0, ext?.length ?? 0);
    if (n === 0) {
      this.report('error', 'structure', 'Invalid empty array');
      return;
    }
    if (v !== undefined && ext !== undefined && v.length !== ext.length) {
      this.report('error', 'structure', `${rule.name} and _${rule.name} must have the same number of items`);
    }
    for (let i = 0; i < n; i++) {
      const item = v?.[i];
      const e = ext?.[i];
      this.segs.push(i);
      const present = item !== null && item !== undefined;
      if (present) this.primitiveValue(rule, item);
      else if (e === null || e === undefined) this.report('error', 'structure', 'Invalid null value');
      if (e !== null && e !== undefined) this.elementOf(e, present);
      this.segs.pop();
    }
    if (n < rule.min || n > rule.max) this.cardinality(rule, n);
  }

  private primitiveValue(rule: PropRule, v: unknown): void {
    const error = rule.check!(v);
    if (error !== undefined) {
      this.report('error', typeof error === 'string' && error.startsWith('Invalid JSON type') ? 'structure' : 'value', error);
      return;
    }
    if (rule.binding !== undefined) {
      const error = rule.binding.checkCode(v as string);
      if (error !== undefined) this.report('error', 'code-invalid', error);
    }
    if (this.localRefs !== undefined && typeof v === 'string' && v.charCodeAt(0) === 35 && URI_TYPES.has(rule.type)) this.localRef(v);
    if (rule.constraints.length) this.invariants(rule.constraints, v, NO_CHILDREN, NO_NODE);
  }

  /** The `_name` sibling of a primitive: an Element (id, extension). */
  private elementOf(e: any, hasValue: boolean): void {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) {
      this.report('error', 'structure', 'The extension part (_name) of a primitive must be an object');
      return;
    }
    this.object(e, (this.elementNode ??= this.compiler.typeNode('Element')), hasValue);
  }

  private array(rule: PropRule, v: any): void {
    if (!Array.isArray(v)) {
      this.report('error', 'structure', `Expected an array for ${rule.path}`);
      return;
    }
    if (v.length === 0) {
      this.report('error', 'structure', 'Invalid empty array');
      return;
    }
    for (let i = 0; i < v.length; i++) {
      this.segs.push(i);
      if (rule.contained) this.containedIndex = i;
      this.complex(rule, v[i]);
      this.segs.pop();
    }
    if (v.length < rule.min || v.length > rule.max) this.cardinality(rule, v.length);
  }

  private cardinality(rule: PropRule, n: number): void {
    const max = rule.max === Infinity ? '*' : rule.max;
    this.report('error', 'structure', `${rule.path} has ${n} values, expected ${rule.min}..${max}`);
  }

  private complex(rule: PropRule, v: any): void {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.report('error', 'structure', v === null ? 'Invalid null value' : `Invalid JSON type: expected object, found ${Array.isArray(v) ? 'array' : typeof v}`);
      return;
    }
    if (rule.kind === RESOURCE) {
      if (rule.contained) {
        this.resource(v, true);
        this.containedIndex = -1;
      } else {
        this.resource(v, false);
      }
      return;
    }
    const node = rule.node ?? this.compiler.nodeOf(rule);
    this.object(v, node, false);
    if (node.isReference) this.reference(rule, v);
    if (rule.binding !== undefined) {
      const error = rule.binding.checkCoded(rule.type, v);
      if (error !== undefined) this.report('error', 'code-invalid', error);
    }
    if (rule.constraints.length) this.invariants(rule.constraints, v, v, node);
  }

  private reference(rule: PropRule, ref: any): void {
    const r = ref.reference;
    let type: string | undefined;
    if (typeof r === 'string' && r.length) {
      const parsed = parseReferenceCached(r);
      if (parsed.kind === 'invalid') {
        this.report('error', 'value', parsed.error!, 'reference');
        return;
      }
      if (parsed.kind === 'conditional' && !this.inTransaction) {
        this.report('error', 'value', `Conditional reference "${r}" is only allowed in a transaction or batch Bundle`, 'reference');
        return;
      }
      if (parsed.kind === 'local') {
        this.localRef(r);
        if (parsed.id && !this.containedIds().includes(parsed.id)) {
          this.report('error', 'invariant', `ref-1: ${r} does not match a contained resource`, 'reference');
        }
        return;
      }
      type = parsed.type;
    }
    const declared = ref.type;
    if (typeof declared === 'string' && type !== undefined && declared !== type && !declared.endsWith(`/${type}`)) {
      this.report('error', 'invariant', `Reference.type "${declared}" does not match the type of the reference (${type})`, 'type');
    }
    type ??= typeof declared === 'string' && !declared.includes(':') ? declared : undefined;
    if (type !== undefined && rule.targets !== undefined && !rule.targets.has(type)) {
      this.report('error', 'structure', `Invalid reference target: ${type} is not allowed for ${rule.path} (allowed: ${[...rule.targets].join(', ')})`, 'reference');
    }
  }

  private localRef(r: string): void {
    if (this.localRefs === undefined) return;
    this.localRefs.add(r === '#' && this.containedIndex >= 0 ? `#@${this.containedIndex}` : r);
  }

  private containedIds(): string[] {
    const contained = (this.env.rootResource as any)?.contained;
    return Array.isArray(contained) ? contained.map((c: any) => c?.id) : [];
  }

  private invariants(list: Invariant[], data: unknown, obj: any, node: InvariantContext): void {
    for (let i = 0; i < list.length; i++) {
      const inv = list[i];
      const guards = inv.guards ?? inv.prepare(node);
      if (!mustEvaluate(guards, obj) || inv.proven(obj)) continue;
      let holds: boolean;
      try {
        holds = inv.holds(data, this.env);
      } catch (e) {
        // The engine's failure is no evidence against the resource.
        this.report('warning', 'processing', `Constraint ${inv.key} could not be evaluated: ${(e as Error).message}`);
        continue;
      }
      if (!holds) this.report('error', 'invariant', `Constraint ${inv.key} failed: ${inv.human} (${inv.expression})`);
    }
  }
}
