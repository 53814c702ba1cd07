/**
 * A patient-privacy Consent flattened into rules, one per provision that decides (has a `type`). The rules are what
 * the search SQL evaluates (table `consent_rule`); see README.md in this folder for the algorithm.
 */
export interface ConsentRule {
  consentId: string;
  patientId: string;
  /** where the provision sits, e.g. `provision.provision[1]` (named in audit records and denials) */
  provision: string;
  /** nesting level: the root provision is 1; deeper is more specific */
  depth: number;
  deny: boolean;
  /** each list: undefined = any; otherwise the rule applies when one of the values matches */
  actors?: string[];
  actions?: string[];
  purposes?: string[];
  types?: string[];
  profiles?: string[];
  labels?: string[];
  dataLo?: string;
  dataHi?: string;
  dataRefs?: string[];
  validLo?: string;
  validHi?: string;
}

export const CONSENT_SCOPE_PATIENT_PRIVACY = 'patient-privacy';
const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';
const RELATIVE_REF = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `http://x/fhir/Organization/1`, `Organization/1/_history/2` → `Organization/1`; undefined when not a reference to a resource. */
export function relativeReference(ref: unknown): string | undefined {
  if (typeof ref !== 'string') return undefined;
  return RELATIVE_REF.exec(ref)?.[1];
}

/** Whether a Consent is one this hub enforces: active, patient-privacy scope, about a patient. */
export function isEnforceable(consent: any): boolean {
  if (consent?.resourceType !== 'Consent' || consent.status !== 'active') return false;
  const scopes: any[] = consent.scope?.coding ?? [];
  if (!scopes.some((c) => c?.code === CONSENT_SCOPE_PATIENT_PRIVACY)) return false;
  return !!patientOf(consent);
}

export function patientOf(consent: any): string | undefined {
  const ref = relativeReference(consent?.patient?.reference);
  return ref?.startsWith('Patient/') ? ref.slice('Patient/'.length) : undefined;
}

const codes = (codings: any[] | undefined): string[] | undefined => {
  const out = (codings ?? []).map((c) => c?.code).filter((c): c is string => typeof c === 'string' && c.length > 0);
  return out.length ? [...new Set(out)] : undefined;
};

const conceptCodes = (concepts: any[] | undefined): string[] | undefined => codes((concepts ?? []).flatMap((c) => c?.coding ?? []));

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

function earlier(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

/** provision.class: resource types (system resource-types, or a bare type name) and profiles (canonical URLs). */
function classes(codings: any[] | undefined): { types?: string[]; profiles?: string[] } {
  const types: string[] = [];
  const profiles: string[] = [];
  for (const c of codings ?? []) {
    const code = c?.code;
    if (typeof code !== 'string' || !code) continue;
    if (/^https?:\/\//.test(code)) profiles.push(code.split('|')[0]);
    else if (c.system === RESOURCE_TYPES_SYSTEM || !c.system) types.push(code);
  }
  return { types: types.length ? types : undefined, profiles: profiles.length ? profiles : undefined };
}

/**
 * The rules of one Consent: empty when it is not enforceable. A nested provision applies within its parent: every
 * dimension it does not set is inherited, a dimension it sets replaces the parent's (it narrows or redirects the
 * parent), and its periods are intersected with the parent's.
 */
export function flattenConsent(consent: any, consentId: string = consent?.id): ConsentRule[] {
  if (!isEnforceable(consent) || !consent.provision) return [];
  const patientId = patientOf(consent)!;
  const rules: ConsentRule[] = [];
  type Inherited = Omit<ConsentRule, 'consentId' | 'patientId' | 'provision' | 'depth' | 'deny'>;
  const walk = (p: any, path: string, depth: number, parent: Inherited) => {
    if (!p || typeof p !== 'object') return;
    const cls = classes(p.class);
    const actors = (p.actor ?? []).map((a: any) => relativeReference(a?.reference?.reference)).filter(Boolean) as string[];
    const dataRefs = (p.data ?? []).map((d: any) => relativeReference(d?.reference?.reference)).filter(Boolean) as string[];
    const own: Inherited = {
      actors: actors.length ? [...new Set(actors)] : parent.actors,
      actions: conceptCodes(p.action) ?? parent.actions,
      purposes: codes(p.purpose) ?? parent.purposes,
      types: cls.types ?? (cls.profiles ? undefined : parent.types),
      profiles: cls.profiles ?? (cls.types ? undefined : parent.profiles),
      labels: codes(p.securityLabel) ?? parent.labels,
      dataLo: p.dataPeriod ? later(p.dataPeriod.start, parent.dataLo) ?? '-infinity' : parent.dataLo,
      dataHi: p.dataPeriod ? earlier(p.dataPeriod.end, parent.dataHi) ?? 'infinity' : parent.dataHi,
      dataRefs: dataRefs.length ? [...new Set(dataRefs)] : parent.dataRefs,
      validLo: later(p.period?.start, parent.validLo),
      validHi: earlier(p.period?.end, parent.validHi),
    };
    if (p.type === 'deny' || p.type === 'permit') {
      rules.push({ consentId, patientId, provision: path, depth, deny: p.type === 'deny', ...own });
    }
    (Array.isArray(p.provision) ? p.provision : []).forEach((child: any, i: number) => walk(child, `${path}.provision[${i}]`, depth + 1, own));
  };
  walk(consent.provision, 'provision', 1, {});
  return rules;
}

/** A rule that matched a request and a resource, as the explain query returns it. */
export interface MatchedRule {
  consentId: string;
  provision: string;
  depth: number;
  deny: boolean;
}

export type BasePolicy = 'opt-in' | 'opt-out';

export interface ConsentVerdict {
  permit: boolean;
  /** the provision that decided, or undefined when the base policy did */
  decidedBy?: MatchedRule;
}

/**
 * The decision for one patient's data given the rules that matched (the search SQL computes the same): the most
 * specific (deepest) matching provision wins, deny beats permit at the same depth, and with no matching rule the
 * base policy decides (opt-out permits, opt-in denies).
 */
export function decide(matched: MatchedRule[], base: BasePolicy): ConsentVerdict {
  if (!matched.length) return { permit: base === 'opt-out' };
  const deepest = Math.max(...matched.map((r) => r.depth));
  const atDeepest = matched.filter((r) => r.depth === deepest);
  const deny = atDeepest.find((r) => r.deny);
  return deny ? { permit: false, decidedBy: deny } : { permit: true, decidedBy: atDeepest[0] };
}
