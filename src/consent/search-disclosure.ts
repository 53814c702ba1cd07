import type { Interaction } from '../fhir/pipeline/interaction.js';
import type { ConsentFacts } from '../fhir/search/query/consent-condition.js';
import type { SearchDenial } from './consent-context.js';

const PATIENT_PARAMS = new Set(['patient', 'subject', 'beneficiary']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The patients a search is about, when it names them: compartment searches, `patient=`/`subject=`, `Patient?_id=`. */
export function searchedPatients(ix: Interaction): string[] {
  const out = new Set<string>();
  if (ix.compartment?.type === 'Patient') out.add(ix.compartment.id);
  for (const [name, value] of ix.params) {
    const code = name.split(':')[0];
    for (const v of value.split(',')) {
      if (PATIENT_PARAMS.has(code) && (v.startsWith('Patient/') || (code === 'patient' && ID.test(v)))) out.add(v.replace(/^Patient\//, ''));
      if (code === '_id' && ix.resourceType === 'Patient' && ID.test(v)) out.add(v);
    }
  }
  return [...out].filter((p) => ID.test(p)).slice(0, 20);
}

export interface SearchFilterReason {
  patients: string[];
  consents: string[];
  text: string;
}

/**
 * Why a search about named patients may have left data out: the provisions that deny this requester something of
 * theirs (read with the request's context, `consent-context.ts`), or, under opt-in, the base policy. Undefined when
 * nothing of theirs is hidden from this requester.
 */
export function searchFilterReason(denials: SearchDenial[], patients: string[], facts: ConsentFacts): SearchFilterReason | undefined {
  if (!patients.length) return undefined;
  const open = patients.filter((p) => !facts.breakGlassPatients.includes(p));
  if (!denials.length && (facts.base === 'opt-out' || !open.length)) return undefined;
  const parts = denials.map((d) => `Consent/${d.consentId} ${d.provision} (deny) of Patient/${d.patientId}`);
  if (facts.base === 'opt-in') parts.push(`base policy opt-in: only what a provision permits`);
  return { patients: open, consents: [...new Set(denials.map((d) => `Consent/${d.consentId}`))], text: `results filtered by consent: ${parts.join('; ')}` };
}
