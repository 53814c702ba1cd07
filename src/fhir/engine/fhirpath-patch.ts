import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { R4Definitions } from '../definitions/r4-definitions.js';
import { FhirError } from '../operation-outcome.js';

/**
 * FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose `operation` parameters add, insert, delete,
 * replace or move elements located by FHIRPath. Locations come from the `fhirpath` engine's own nodes (parent,
 * property, index), so the change lands exactly where the expression points.
 */

interface Location {
  parent: any;
  prop: string;
  index: number | null;
  path: string;
  type?: string;
  data: unknown;
}

const OPS = new Set(['add', 'insert', 'delete', 'replace', 'move']);

function fail(i: number, msg: string, status = 422): never {
  throw new FhirError(status, `FHIRPath Patch operation ${i}: ${msg}`, status === 400 ? 'invalid' : 'processing');
}

function locate(resource: any, expression: string, i: number): Location[] {
  let nodes: any[];
  try {
    nodes = fhirpath.evaluate(resource, expression, undefined, r4Model as any, { resolveInternalTypes: false }) as any[];
  } catch (e) {
    fail(i, `path "${expression}" is not valid FHIRPath: ${(e as Error).message}`, 400);
  }
  return nodes.map((n) => {
    if (!n || typeof n !== 'object' || !('parentResNode' in n)) fail(i, `path "${expression}" does not point at an element of the resource`);
    return { parent: n.parentResNode?.data, prop: n.propName, index: n.index ?? null, path: n.path, type: n.fhirNodeDataType, data: n.data };
  });
}

/** The `value` part: a value[x], or nested parts for a complex value. */
function valueOf(part: any): unknown {
  const key = Object.keys(part).find((k) => k.startsWith('value'));
  if (key) return part[key];
  if (part.resource) return part.resource;
  if (Array.isArray(part.part)) {
    const obj: any = {};
    for (const p of part.part) {
      const v = valueOf(p);
      if (p.name in obj) obj[p.name] = [...(Array.isArray(obj[p.name]) ? obj[p.name] : [obj[p.name]]), v];
      else obj[p.name] = v;
    }
    return obj;
  }
  return undefined;
}

/** Whether element `name` of an element at `path` (of data type `type`) repeats, from the R4 definitions. */
function repeats(path: string, type: string | undefined, name: string): boolean {
  const defs = R4Definitions.get().structureDefinitions;
  const candidates: [string, string][] = [];
  if (type) candidates.push([type, `${type}.${name}`]);
  candidates.push([path.split('.')[0], `${path}.${name}`]);
  for (const [sdName, elementPath] of candidates) {
    const sd = defs.get(`http://hl7.org/fhir/StructureDefinition/${sdName}`);
    const el = sd?.snapshot?.element?.find((e: any) => e.path === elementPath || e.path === `${elementPath}[x]`);
    if (el) return el.max !== '1';
  }
  return false;
}

function single(locs: Location[], i: number, path: string): Location {
  if (locs.length !== 1) fail(i, `path "${path}" must match exactly one element, matched ${locs.length}`);
  return locs[0];
}

function listOf(locs: Location[], i: number, path: string): { parent: any; prop: string } {
  if (!locs.length) fail(i, `path "${path}" matched no list`);
  const { parent, prop } = locs[0];
  if (!locs.every((l) => l.parent === parent && l.prop === prop && l.index !== null) || !Array.isArray(parent[prop])) {
    fail(i, `path "${path}" must select one repeating element`);
  }
  return { parent, prop };
}

export function isFhirPathPatch(body: unknown): boolean {
  return (body as any)?.resourceType === 'Parameters';
}

export function applyFhirPathPatch(resource: any, params: any): any {
  const doc = structuredClone(resource);
  const operations = (params.parameter ?? []).filter((p: any) => p.name === 'operation');
  if (!operations.length) throw FhirError.badRequest('FHIRPath Patch needs at least one "operation" parameter');
  operations.forEach((op: any, i: number) => {
    const parts = new Map<string, any>((op.part ?? []).map((p: any) => [p.name, p]));
    const type = parts.get('type')?.valueCode;
    const path = parts.get('path')?.valueString;
    if (!OPS.has(type)) fail(i, `type must be one of ${[...OPS].join(', ')}`, 400);
    if (typeof path !== 'string' || !path) fail(i, 'path is required', 400);
    const locs = locate(doc, path, i);
    switch (type) {
      case 'add': {
        const name = parts.get('name')?.valueString;
        const value = parts.has('value') ? valueOf(parts.get('value')) : undefined;
        if (!name || value === undefined) fail(i, 'add needs name and value', 400);
        const target = single(locs, i, path);
        if (!target.data || typeof target.data !== 'object') fail(i, `path "${path}" is not an element that can have children`);
        const container = target.data as any;
        if (Array.isArray(container[name]) || (container[name] === undefined && repeats(target.path, target.type, name))) {
          container[name] = [...(container[name] ?? []), value];
        } else if (container[name] === undefined) container[name] = value;
        else fail(i, `${path}.${name} already has a value (use replace)`);
        break;
      }
      case 'insert': {
        const { parent, prop } = listOf(locs, i, path);
        const index = parts.get('index')?.valueInteger;
        const value = parts.has('value') ? valueOf(parts.get('value')) : undefined;
        if (!Number.isInteger(index) || index < 0 || index > parent[prop].length) fail(i, `index ${index} is outside the list`);
        if (value === undefined) fail(i, 'insert needs a value', 400);
        parent[prop].splice(index, 0, value);
        break;
      }
      case 'delete': {
        if (!locs.length) break; // deleting nothing is not an error
        const { parent, prop, index } = single(locs, i, path);
        if (index !== null) {
          parent[prop].splice(index, 1);
          if (Array.isArray(parent[`_${prop}`])) parent[`_${prop}`].splice(index, 1);
          if (!parent[prop].length) delete parent[prop];
        } else {
          delete parent[prop];
          delete parent[`_${prop}`];
        }
        break;
      }
      case 'replace': {
        const value = parts.has('value') ? valueOf(parts.get('value')) : undefined;
        if (value === undefined) fail(i, 'replace needs a value', 400);
        const { parent, prop, index } = single(locs, i, path);
        if (index !== null) parent[prop][index] = value;
        else parent[prop] = value;
        break;
      }
      case 'move': {
        const { parent, prop } = listOf(locs, i, path);
        const source = parts.get('source')?.valueInteger;
        const destination = parts.get('destination')?.valueInteger;
        const len = parent[prop].length;
        if (!Number.isInteger(source) || !Number.isInteger(destination) || source < 0 || destination < 0 || source >= len || destination >= len) {
          fail(i, 'move needs source and destination inside the list');
        }
        const [item] = parent[prop].splice(source, 1);
        parent[prop].splice(destination, 0, item);
        break;
      }
    }
  });
  if (doc.resourceType !== resource.resourceType || doc.id !== resource.id) throw FhirError.badRequest('A patch may not change resourceType or id');
  return doc;
}
