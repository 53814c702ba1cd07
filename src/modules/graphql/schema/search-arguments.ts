import { GraphQLInt, GraphQLNonNull, GraphQLString, type GraphQLFieldConfigArgumentMap } from 'graphql';
import type { SearchParamRegistry } from '../../../fhir/search/params/search-param-registry.js';
import { SearchValue } from './scalars.js';

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** Arguments that steer a search (paging, order) rather than filter it. */
export const CONTROL_ARGUMENTS = new Set(['_count', '_offset', '_sort', '_total', '_cursor', '_reference']);

/**
 * The search arguments of each resource type, taken from the search parameter registry (official and custom
 * SearchParameters): `-` in a code becomes `_` (GraphQL names), and the argument map is built once per type and
 * shared by every field that searches that type (`PatientList`, `PatientConnection`, reverse references).
 */
export class SearchArguments {
  private readonly maps = new Map<string, GraphQLFieldConfigArgumentMap>();
  private readonly codes = new Map<string, Map<string, string>>();

  constructor(private readonly registry: SearchParamRegistry) {}

  /** `{ name, gender, general_practitioner, ..., _count, _offset, _sort }` for `resourceType`. */
  forType(resourceType: string): GraphQLFieldConfigArgumentMap {
    let map = this.maps.get(resourceType);
    if (!map) {
      map = {};
      const codes = new Map<string, string>();
      for (const [code, def] of this.registry.forType(resourceType)) {
        const name = code.replace(/-/g, '_');
        if (!GRAPHQL_NAME.test(name) || name.startsWith('__') || CONTROL_ARGUMENTS.has(name)) continue;
        map[name] = { type: SearchValue, description: `${def.type} search parameter ${code}` };
        codes.set(name, code);
      }
      map._count = { type: GraphQLInt, description: 'page size' };
      map._offset = { type: GraphQLInt, description: 'results to skip' };
      map._sort = { type: SearchValue, description: 'sort order, as in FHIR search (`-date`)' };
      map._total = { type: SearchValue, description: 'none | estimate | accurate' };
      this.maps.set(resourceType, map);
      this.codes.set(resourceType, codes);
    }
    return map;
  }

  /** Connection arguments: the search arguments plus `_cursor`. */
  connection(resourceType: string): GraphQLFieldConfigArgumentMap {
    return { ...this.forType(resourceType), _cursor: { type: GraphQLString, description: 'a cursor from first/previous/next/last' } };
  }

  /** Reverse reference arguments: `_reference` names the reference search parameter of `resourceType`. */
  reverse(resourceType: string): GraphQLFieldConfigArgumentMap {
    return { _reference: { type: new GraphQLNonNull(SearchValue), description: 'the reference search parameter pointing to this resource' }, ...this.forType(resourceType) };
  }

  /** The search parameter code of a GraphQL argument name. */
  code(resourceType: string, argument: string): string | undefined {
    this.forType(resourceType);
    return this.codes.get(resourceType)!.get(argument);
  }

  /** Resource types that have a reference search parameter able to point at `target` (reverse reference fields). */
  referrers(target: string): string[] {
    this.referrerIndex ??= this.buildReferrers();
    return this.referrerIndex.get(target) ?? [];
  }
  private referrerIndex?: Map<string, string[]>;

  private buildReferrers(): Map<string, string[]> {
    const out = new Map<string, Set<string>>();
    for (const type of this.registry.allResourceTypes()) {
      for (const def of this.registry.forType(type).values()) {
        if (def.type !== 'reference') continue;
        const targets = def.targets.length ? def.targets : this.registry.allResourceTypes();
        for (const t of targets) {
          if (!out.has(t)) out.set(t, new Set());
          out.get(t)!.add(type);
        }
      }
    }
    return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
  }
}
