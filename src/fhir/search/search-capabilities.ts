import { MODIFIERS } from './query/conditions/leaf-conditions.js';
import type { SearchParamRegistry } from './params/search-param-registry.js';

/** Search parameters every resource type has and the result parameters, for the CapabilityStatement. */
const COMMON = ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text', '_content', '_list', '_has', '_type'];
const RESULT_PARAMETERS = ['_sort', '_count', '_include', '_revinclude', '_summary', '_total', '_elements'];

export interface SearchParamCapability {
  name: string;
  definition?: string;
  type: string;
  documentation: string;
}

/**
 * What the search engine supports, derived from the registry (the official R4 SearchParameters plus custom ones):
 * per type its parameters with their modifiers, `_include`/`_revinclude` values, and the system-wide parameters.
 * `contribute(cs)` fills a CapabilityStatement built by src/fhir/capability.
 */
export class SearchCapabilities {
  constructor(private readonly registry: SearchParamRegistry) {}

  /** The parameters of a resource type with the modifiers each supports (also the `_id`, `_text`, ... ones). */
  searchParams(resourceType: string): SearchParamCapability[] {
    const out: SearchParamCapability[] = [];
    for (const def of this.registry.forType(resourceType).values()) {
      if (!def.evaluate && !def.column && !['_text', '_content'].includes(def.code)) continue;
      out.push({ name: def.code, definition: def.url, type: def.type, documentation: modifiersText(def.type, def.column) });
    }
    for (const extra of ['_list', '_has']) out.push({ name: extra, type: 'special', documentation: extra === '_has' ? 'Reverse chaining, nestable: _has:Type:reference:parameter' : 'Members of a List: _list=id' });
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** `Type:param` values accepted by `_include` (its reference parameters) and `_revinclude` (those pointing at it). */
  includes(resourceType: string): { include: string[]; revinclude: string[] } {
    const include = [...this.registry.forType(resourceType).values()].filter((d) => d.type === 'reference' && d.evaluate).map((d) => `${resourceType}:${d.code}`);
    const revinclude: string[] = [];
    for (const t of this.registry.allResourceTypes()) {
      for (const d of this.registry.forType(t).values()) {
        if (d.type === 'reference' && d.evaluate && (d.targets.includes(resourceType) || d.targets.includes('Resource'))) revinclude.push(`${t}:${d.code}`);
      }
    }
    return { include: [...include, '*'], revinclude: [...revinclude, '*'] };
  }

  /** Fills `rest[0].resource[].searchParam`, `searchInclude`, `searchRevInclude` and the system-level parameters. */
  contribute(cs: any): void {
    const rest = cs.rest?.[0];
    if (!rest) return;
    for (const res of rest.resource ?? []) {
      if (!this.registry.isResourceType(res.type)) continue;
      res.searchParam = this.searchParams(res.type);
      const { include, revinclude } = this.includes(res.type);
      res.searchInclude = include;
      res.searchRevInclude = revinclude;
    }
    rest.searchParam = COMMON.map((name) => ({ name, type: name === '_lastUpdated' ? 'date' : ['_id', '_tag', '_security'].includes(name) ? 'token' : ['_profile', '_source'].includes(name) ? 'uri' : name === '_text' || name === '_content' ? 'string' : 'special' }));
    rest.documentation = [
      `Search result parameters: ${RESULT_PARAMETERS.join(', ')} (_total: none|estimate|accurate; _summary: true|text|data|count).`,
      'Paging uses opaque keyset cursors in the next/previous links. Prefixes eq ne gt lt ge le sa eb ap on number, date and quantity;',
      'chains of several levels (subject:Patient.organization.name), nested _has, composite parameters, escaping of \\, \\$ \\|.',
      'Prefer: handling=strict turns unknown or malformed parameters into 400 (else they are reported in an OperationOutcome entry).',
    ].join(' ');
  }
}

export function supportedModifiers(type: string): string[] {
  return MODIFIERS[type as keyof typeof MODIFIERS] ?? [];
}

function modifiersText(type: string, column?: string): string {
  if (column === 'id') return 'Modifiers: :not';
  if (column) return 'Prefixes: eq ne gt lt ge le sa eb ap';
  const mods = supportedModifiers(type);
  const prefixes = ['date', 'number', 'quantity'].includes(type) ? '; prefixes: eq ne gt lt ge le sa eb ap' : '';
  return `Modifiers: ${mods.length ? mods.map((m) => `:${m}`).join(' ') : 'none'}${prefixes}`;
}
