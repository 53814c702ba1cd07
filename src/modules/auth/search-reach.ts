import type { Interaction } from '../../fhir/pipeline/interaction.js';
import type { SearchParamRegistry } from '../../fhir/search/params/search-param-registry.js';

/**
 * The other resource types a search reaches besides its own: `_include` targets, `_revinclude` sources, chained
 * parameters' targets (first hop) and `_has` sources. Each must be readable under the caller's scopes (`check`
 * throws otherwise); the compartment restriction itself is compiled into the SQL by the search engine.
 */
export function checkSearchReach(ix: Interaction, registry: SearchParamRegistry, check: (type: string) => void): void {
  const seen = new Set<string>();
  const need = (type: string) => {
    if (!seen.has(type)) {
      seen.add(type);
      check(type);
    }
  };
  const targetsOf = (source: string, code: string, target?: string): string[] => {
    if (target) return [target];
    if (source === '*') return ['*'];
    const def = registry.get(source, code);
    return def?.targets?.length ? def.targets : ['*'];
  };
  for (const [name, value] of ix.params) {
    const base = name.split(':')[0];
    if (base === '_include' || base === '_revinclude') {
      if (value === '*') {
        need('*');
        continue;
      }
      const [source, code, target] = value.split(':');
      if (base === '_revinclude') need(source);
      else for (const t of targetsOf(source, code ?? '', target)) need(t);
    } else if (name.startsWith('_has:')) {
      // _has:Observation:patient:code=x (nested _has: only the first source is checked here; the rest is in SQL)
      const source = name.split(':')[1];
      if (source) need(source);
    } else if (!name.startsWith('_') && name.includes('.') && ix.resourceType) {
      // chain: subject:Patient.name or general-practitioner.name
      const head = name.split('.')[0];
      const [code, target] = head.split(':');
      for (const t of targetsOf(ix.resourceType, code, target)) need(t);
    }
  }
}
