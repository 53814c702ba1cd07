import type { Interaction } from '../fhir/pipeline/interaction.js';
import type { ConsentFacts } from '../fhir/search/query/consent-condition.js';
import type { Queryable } from '../modules/database/db.js';

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
 * theirs (or, under opt-in, the base policy). Undefined when nothing of theirs is hidden from this requester.
 */
export async function searchFilterReason(q: Queryable, patients: string[], facts: ConsentFacts): Promise<SearchFilterReason | undefined> {
  if (!patients.length) return undefined;
  const res = await q.query({
    name: 'consent_search_filter_reason',
    text: `SELECT patient_id, consent_id, provision FROM consent_rule
           WHERE patient_id = ANY($1) AND deny AND valid_lo <= now() AND valid_hi >= now()
             AND (actors IS NULL OR actors && $2) AND (actions IS NULL OR actions && $3)
             AND (purposes IS NULL OR purposes && $4 OR cardinality($4::text[]) = 0)
             AND NOT (patient_id = ANY($5))
           ORDER BY patient_id, depth LIMIT 20`,
    values: [patients, facts.actors, facts.actions, facts.purposes, facts.breakGlassPatients],
  });
  const open = patients.filter((p) => !facts.breakGlassPatients.includes(p));
  if (!res.rows.length && (facts.base === 'opt-out' || !open.length)) return undefined;
  const parts = res.rows.map((r: any) => `Consent/${r.consent_id} ${r.provision} (deny) of Patient/${r.patient_id}`);
  if (facts.base === 'opt-in') parts.push(`base policy opt-in: only what a provision permits`);
  return { patients: open, consents: [...new Set<string>(res.rows.map((r: any) => `Consent/${r.consent_id}`))], text: `results filtered by consent: ${parts.join('; ')}` };
}
