/**
 * Which patients a stored resource is about, read from its JSON text without parsing it: the top-level references
 * that name the patient a resource is about (`subject`, `patient`, `beneficiary`), as `Patient/id`. A full
 * compartment walk would cost a parse per resource; the audit trail records these for every read and search.
 */
export const PATIENT_FIELDS = ['subject', 'patient', 'beneficiary'];

// (JSON that came back from jsonb had a space after each colon; the stored json text has none)
const PATIENT_REF_IN_JSON = new RegExp(`"(?:${PATIENT_FIELDS.join('|')})": ?\\{[^{}]*?"reference": ?"(Patient/[A-Za-z0-9\\-.]{1,64})"`, 'g');

export function addPatientRefsInJson(json: string, out: Set<string>): void {
  for (const m of json.matchAll(PATIENT_REF_IN_JSON)) out.add(m[1]);
}
