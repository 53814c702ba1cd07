/**
 * Default sensitive code lists: a resource carrying one of these codes (anywhere, e.g. Condition.code,
 * Observation.code, MedicationRequest.reasonCode) gets the v3 ActCode sensitivity label in `meta.security` on write.
 *
 * Where the codes come from: ICD-10 / ICD-10-CM category ranges (chapter V F01–F99 mental and behavioural disorders,
 * split into F10–F19 "due to psychoactive substance use" for substance use; B20 / Z21 / R75 / O98.7 for HIV; O00–O08
 * pregnancy with abortive outcome, Z30 contraceptive management and A50–A64 sexually transmitted infections for
 * sexual and reproductive health; T74.2 / T76.2 / Z04.4 / Y05 sexual abuse and assault), and a few SNOMED CT disorder
 * concepts and LOINC HIV tests commonly seen in Synthea data. They are deliberately small: a deployment replaces them
 * with its own value sets (e.g. the VSAC / SAMHSA sensitive value sets) through HUB_CONSENT_LABELS.
 */
export interface SensitiveCodeList {
  /** v3 ActCode sensitivity code put in meta.security */
  label: string;
  display: string;
  match: { system: string; codes?: string[]; prefixes?: string[] }[];
}

export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';

const icd = (prefixes: string[]) => [
  { system: ICD10CM, prefixes },
  { system: ICD10, prefixes },
];

export const DEFAULT_SENSITIVE_CODES: SensitiveCodeList[] = [
  {
    label: 'PSY',
    display: 'psychiatry information sensitivity',
    match: [
      ...icd(['F0', 'F2', 'F3', 'F4', 'F5', 'F6', 'F7', 'F8', 'F9']),
      // depressive disorder, major depressive disorder, schizophrenia, bipolar disorder, anxiety disorder, PTSD
      { system: SNOMED, codes: ['35489007', '370143000', '58214004', '13746004', '197480006', '47505003'] },
    ],
  },
  {
    label: 'ETH',
    display: 'substance abuse information sensitivity',
    match: [
      ...icd(['F10', 'F11', 'F12', 'F13', 'F14', 'F15', 'F16', 'F17', 'F18', 'F19']),
      // alcoholism, alcohol dependence, drug dependence, opioid abuse, opioid dependence
      { system: SNOMED, codes: ['7200002', '66590003', '191816009', '5602001', '75544000'] },
    ],
  },
  {
    label: 'HIV',
    display: 'HIV/AIDS information sensitivity',
    match: [
      ...icd(['B20', 'Z21', 'R75', 'O987']),
      // HIV infection, HIV positive
      { system: SNOMED, codes: ['86406008', '165816005'] },
      // HIV 1+2 Ag+Ab, HIV 1 Ab, HIV 1 RNA
      { system: LOINC, codes: ['75622-1', '7917-8', '25836-8'] },
    ],
  },
  {
    label: 'SEX',
    display: 'sexuality and reproductive health information sensitivity',
    match: [...icd(['O00', 'O01', 'O02', 'O03', 'O04', 'O05', 'O06', 'O07', 'O08', 'Z30', 'A50', 'A51', 'A52', 'A53', 'A54', 'A55', 'A56', 'A57', 'A58', 'A59', 'A60', 'A63', 'A64'])],
  },
  {
    label: 'SDV',
    display: 'sexual assault, abuse, or domestic violence information sensitivity',
    match: [...icd(['T742', 'T762', 'Z044', 'Y05'])],
  },
];
