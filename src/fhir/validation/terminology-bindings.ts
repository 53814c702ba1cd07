/**
 * Required terminology bindings (R4 terminologies.html#strength: "To be conformant, the concept in this element SHALL
 * be from the specified value set"), checked against the codes the compaction of the definitions enumerated for the
 * ValueSet (compact-definitions.ts: `binding.codes`, `system|code` strings). Bindings of another strength
 * (extensible, preferred, example) and required ValueSets that cannot be enumerated (`binding.unchecked`: mime types,
 * currencies, UCUM, unknown ValueSets) are not checked.
 *
 * What is checked, per element type:
 *  - `code`: the code is one of the ValueSet's codes, whatever their system;
 *  - `Coding`: `system|code` is in the ValueSet (a Coding of another system is not from the ValueSet, hence an
 *    error); a Coding without a system is matched on its code alone;
 *  - `CodeableConcept`: at least one of its codings is in the ValueSet (as for a Coding); the other codings are
 *    translations and may be from any system. Text alone (no coding from the ValueSet) does not conform.
 * One Set lookup per coded value; the Sets are built once per ValueSet, on first use.
 */
export class RequiredBinding {
  /** ValueSet URL, without its `|version` */
  readonly valueSet: string;
  /** every code of the ValueSet, whatever its system */
  private readonly codes: ReadonlySet<string>;
  /** `system|code` */
  private readonly pairs: ReadonlySet<string>;

  constructor(valueSet: string, systemCodes: readonly string[]) {
    this.valueSet = valueSet;
    this.pairs = new Set(systemCodes);
    this.codes = new Set(systemCodes.map((sc) => sc.slice(sc.indexOf('|') + 1)));
  }

  hasCode(code: string): boolean {
    return this.codes.has(code);
  }

  /** Whether a Coding (an object) is from the ValueSet. */
  hasCoding(coding: any): boolean {
    const code = coding.code;
    if (typeof code !== 'string') return false;
    const system = coding.system;
    return typeof system === 'string' ? this.pairs.has(`${system}|${code}`) : this.codes.has(code);
  }

  /** Diagnostics for a `code` value outside the ValueSet; undefined when it is in it. */
  checkCode(code: string): string | undefined {
    return this.codes.has(code) ? undefined : `Code "${code}" is not in the required value set ${this.valueSet}`;
  }

  /** Diagnostics for a Coding or CodeableConcept (`type`) value outside the ValueSet; undefined when it is in it. */
  checkCoded(type: string, value: any): string | undefined {
    if (type === 'Coding') {
      if (this.hasCoding(value)) return undefined;
      return typeof value.code === 'string'
        ? `Code "${value.system === undefined ? '' : `${value.system}|`}${value.code}" is not in the required value set ${this.valueSet}`
        : `The Coding has no code from the required value set ${this.valueSet}`;
    }
    const codings = value.coding;
    if (Array.isArray(codings)) {
      for (let i = 0; i < codings.length; i++) {
        const c = codings[i];
        if (c !== null && typeof c === 'object' && this.hasCoding(c)) return undefined;
      }
      const found = codings.filter((c) => typeof c?.code === 'string').map((c) => `"${c.system === undefined ? '' : `${c.system}|`}${c.code}"`);
      if (found.length) {
        return `None of the codings of the CodeableConcept (${found.join(', ')}) is in the required value set ${this.valueSet}`;
      }
    }
    return `The CodeableConcept has no coding from the required value set ${this.valueSet}`;
  }
}

const CODED_TYPES = new Set(['code', 'Coding', 'CodeableConcept']);
const cache = new Map<string, RequiredBinding>();

/**
 * The check of an element's binding (compact ElementDefinition.binding) for a value of type `type`; undefined when
 * nothing is to be checked: not required, not enumerable, or a type a binding check does not apply to here.
 */
export function requiredBinding(binding: any, type: string): RequiredBinding | undefined {
  if (binding?.strength !== 'required' || !Array.isArray(binding.codes) || !CODED_TYPES.has(type)) return undefined;
  const url = String(binding.valueSet).split('|')[0];
  let b = cache.get(url);
  if (!b) {
    b = new RequiredBinding(url, binding.codes);
    cache.set(url, b);
  }
  return b;
}
