import { describe, expect, it } from 'vitest';
import { decide, flattenConsent, relativeReference, type MatchedRule } from '../../src/consent/consent-rules.js';
import { governedByConsent, requesterFacts } from '../../src/consent/requester.js';
import { SensitivityLabeler } from '../../src/consent/sensitivity-labeler.js';
import { loadConsentConfig } from '../../src/consent/consent-config.js';
import { searchedPatients } from '../../src/consent/search-disclosure.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';
import { consentCondition, consentFactsCte } from '../../src/fhir/search/query/consent-condition.js';
import { SqlParams } from '../../src/fhir/search/query/sql-params.js';

const base = (provision: any, extra: any = {}) => ({
  resourceType: 'Consent',
  id: 'c1',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  patient: { reference: 'Patient/p1' },
  provision,
  ...extra,
});

const rule = (depth: number, deny: boolean, provision = `p${depth}${deny ? 'd' : 'p'}`): MatchedRule => ({ consentId: 'c', provision, depth, deny });

describe('decide: most specific provision wins, deny beats permit at the same depth', () => {
  it('falls back to the base policy when no provision matches', () => {
    expect(decide([], 'opt-out')).toEqual({ permit: true });
    expect(decide([], 'opt-in')).toEqual({ permit: false });
  });
  it('the deepest matching provision decides', () => {
    expect(decide([rule(1, true), rule(2, false)], 'opt-in').permit).toBe(true);
    expect(decide([rule(1, false), rule(2, true)], 'opt-out').permit).toBe(false);
    expect(decide([rule(1, true), rule(2, false), rule(3, true)], 'opt-out').decidedBy?.depth).toBe(3);
  });
  it('deny wins a tie', () => {
    const v = decide([rule(2, false), rule(2, true), rule(1, false)], 'opt-out');
    expect(v.permit).toBe(false);
    expect(v.decidedBy?.deny).toBe(true);
  });
  it('a permit decides only when no deny is as deep', () => {
    expect(decide([rule(1, false)], 'opt-in')).toEqual({ permit: true, decidedBy: rule(1, false) });
  });
});

describe('flattenConsent', () => {
  it('only active patient-privacy consents about a patient are enforced', () => {
    expect(flattenConsent(base({ type: 'deny' }))).toHaveLength(1);
    expect(flattenConsent(base({ type: 'deny' }, { status: 'inactive' }))).toEqual([]);
    expect(flattenConsent(base({ type: 'deny' }, { scope: { coding: [{ code: 'research' }] } }))).toEqual([]);
    expect(flattenConsent(base({ type: 'deny' }, { patient: undefined }))).toEqual([]);
  });

  it('nested provisions inherit unset dimensions, replace set ones, intersect periods, and get deeper', () => {
    const rules = flattenConsent(
      base({
        type: 'deny',
        period: { start: '2020-01-01', end: '2030-01-01' },
        actor: [{ role: {}, reference: { reference: 'http://hub/fhir/Organization/o1' } }],
        purpose: [{ code: 'HRESCH' }],
        provision: [
          {
            type: 'permit',
            period: { start: '2025-01-01' },
            class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }, { code: 'http://x/StructureDefinition/vitals' }],
            securityLabel: [{ code: 'PSY' }],
            dataPeriod: { start: '2024-01-01', end: '2024-12-31' },
            data: [{ meaning: 'instance', reference: { reference: 'Observation/o9/_history/2' } }],
            provision: [{ type: 'deny', actor: [{ role: {}, reference: { reference: 'Practitioner/x' } }], action: [{ coding: [{ code: 'access' }] }] }],
          },
          { provision: [{ type: 'deny' }] }, // a provision without type decides nothing, its children still do
        ],
      }),
    );
    expect(rules.map((r) => [r.provision, r.depth, r.deny])).toEqual([
      ['provision', 1, true],
      ['provision.provision[0]', 2, false],
      ['provision.provision[0].provision[0]', 3, true],
      ['provision.provision[1].provision[0]', 3, true],
    ]);
    const [root, child, grandchild] = rules;
    expect(root).toMatchObject({ patientId: 'p1', actors: ['Organization/o1'], purposes: ['HRESCH'], validLo: '2020-01-01', validHi: '2030-01-01' });
    expect(child).toMatchObject({
      actors: ['Organization/o1'],
      types: ['Observation'],
      profiles: ['http://x/StructureDefinition/vitals'],
      labels: ['PSY'],
      dataLo: '2024-01-01',
      dataHi: '2024-12-31',
      dataRefs: ['Observation/o9'],
      validLo: '2025-01-01',
      validHi: '2030-01-01',
    });
    expect(grandchild).toMatchObject({ actors: ['Practitioner/x'], actions: ['access'], types: ['Observation'], labels: ['PSY'], purposes: ['HRESCH'] });
  });

  it('references are made relative', () => {
    expect(relativeReference('https://a.b/fhir/Practitioner/12')).toBe('Practitioner/12');
    expect(relativeReference('CareTeam/t-1/_history/3')).toBe('CareTeam/t-1');
    expect(relativeReference('#contained')).toBeUndefined();
  });
});

describe('requester', () => {
  it('who consent governs', () => {
    expect(governedByConsent({ kind: 'system', scopes: [] })).toBe(false);
    expect(governedByConsent({ kind: 'patient', scopes: [] })).toBe(false);
    expect(governedByConsent({ kind: 'client', scopes: [] })).toBe(false);
    expect(governedByConsent({ kind: 'client', scopes: [], organization: 'Organization/o' })).toBe(true);
    expect(governedByConsent({ kind: 'user', scopes: [] })).toBe(true);
  });
  it('facts: actors from fhirUser, organization and roles; writes are also "correct"', () => {
    const f = requesterFacts({ kind: 'user', scopes: [], fhirUser: 'Practitioner/1', organization: 'Organization/o', actingAs: ['PractitionerRole/r'], purposeOfUse: ['TREAT'] }, 'update', 'opt-in', ['p']);
    expect(f).toEqual({
      base: 'opt-in',
      organizations: ['Organization/o'],
      actors: ['Practitioner/1', 'Organization/o', 'PractitionerRole/r'],
      purposes: ['TREAT'],
      actions: ['access', 'use', 'disclose', 'correct'],
      breakGlassPatients: ['p'],
    });
  });
});

describe('sensitivity labels', () => {
  const labeler = new SensitivityLabeler();
  it('ICD-10 prefixes with or without the dot, SNOMED and LOINC codes, anywhere in the resource', () => {
    expect([...labeler.labelsFor({ resourceType: 'Condition', code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F32.9' }] } }).keys()]).toEqual(['PSY']);
    expect([...labeler.labelsFor({ resourceType: 'Condition', code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F10.20' }] } }).keys()]).toEqual(['ETH']);
    expect([...labeler.labelsFor({ resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '75622-1' }] } }).keys()]).toEqual(['HIV']);
    expect([...labeler.labelsFor({ resourceType: 'MedicationRequest', reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'Z30.0' }] }] }).keys()]).toEqual(['SEX']);
    expect(labeler.labelsFor({ resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] } }).size).toBe(0);
  });
  it('adds missing labels once, keeps existing ones, never looks into meta', () => {
    const r: any = { resourceType: 'Condition', meta: { security: [{ system: 'x', code: 'R' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '86406008' }] } };
    labeler.label(r);
    labeler.label(r);
    expect(r.meta.security.map((s: any) => s.code)).toEqual(['R', 'HIV']);
    const metaOnly: any = { resourceType: 'Basic', meta: { tag: [{ system: 'http://snomed.info/sct', code: '86406008' }] } };
    labeler.label(metaOnly);
    expect(metaOnly.meta.security).toBeUndefined();
  });
});

describe('searchedPatients', () => {
  const ix = (extra: any) => ({ kind: 'search-type', params: [], prefer: {}, principal: { kind: 'user', scopes: [] }, door: 'rest', ...extra }) as any;
  it('finds the patients a search names', () => {
    expect(searchedPatients(ix({ compartment: { type: 'Patient', id: 'p1' } }))).toEqual(['p1']);
    expect(searchedPatients(ix({ resourceType: 'Observation', params: [['subject', 'Patient/p2,Group/g'], ['patient', 'p3'], ['code', 'x']] }))).toEqual(['p2', 'p3']);
    expect(searchedPatients(ix({ resourceType: 'Patient', params: [['_id', 'p4']] }))).toEqual(['p4']);
    expect(searchedPatients(ix({ resourceType: 'Observation', params: [['code', 'Patient/x']] }))).toEqual([]);
  });
});

describe('configuration', () => {
  it('reads the environment and rejects nonsense', () => {
    expect(loadConsentConfig({})).toMatchObject({ enabled: true, breakGlassMinutes: 60, base: undefined });
    expect(loadConsentConfig({ HUB_CONSENT: 'off', HUB_CONSENT_BASE: 'opt-in', HUB_BREAK_GLASS_MINUTES: '15' })).toMatchObject({ enabled: false, base: 'opt-in', breakGlassMinutes: 15 });
    expect(() => loadConsentConfig({ HUB_CONSENT_BASE: 'maybe' })).toThrow();
  });
});

describe('consentCondition', () => {
  const registry = new SearchParamRegistry();
  const facts = { base: 'opt-out' as const, organizations: [], actors: [], purposes: [], actions: ['access'], breakGlassPatients: [] };
  it('types outside any patient compartment are not governed', () => {
    expect(consentCondition(new SqlParams(), registry, { alias: 'r0', types: ['Organization'] }, facts)).toBe('true');
  });
  it('compiles to NOT EXISTS a patient of the row who refuses; opt-out needs a matching deny, opt-in also refuses without a match; ownership only with an organization', () => {
    const out = consentCondition(new SqlParams(), registry, { alias: 'r0', types: ['Observation'] }, facts);
    expect(out).toMatch(/^NOT EXISTS \(SELECT 1 FROM \(SELECT ck\d+\.tid FROM sp_reference/);
    expect(out).toContain('v.d >= v.p AND v.d > 0');
    expect(out).not.toContain('resource_owner');
    const owned = consentCondition(new SqlParams(), registry, { alias: 'r0', types: ['Observation'] }, { ...facts, base: 'opt-in', organizations: ['Organization/o'] });
    expect(owned).toContain('resource_owner');
    expect(owned).not.toContain('v.d > 0');
    expect(owned).toContain('v.d >= v.p');
  });
  it('live facts are read by the statement itself (consent_facts): policy, break-the-glass sessions, PractitionerRoles', () => {
    const sql = new SqlParams();
    const live = { userId: 'u1', practitioner: 'p1', patients: [] };
    const out = consentCondition(sql, registry.warmUp(), { alias: 'r0', types: ['Observation'] }, { ...facts, live });
    expect(out).toContain('FROM consent_facts');
    expect(out).toContain('resource_owner'); // the practitioner's organizations own what they wrote
    const cte = consentFactsCte(sql, registry, live);
    expect(cte).toMatch(/^consent_facts AS MATERIALIZED/);
    expect(cte).toContain('FROM consent_policy');
    expect(cte).toContain('FROM break_glass_session');
    expect(cte).toContain(`r.resource_type = 'PractitionerRole'`);
    expect(sql.values).toEqual(expect.arrayContaining(['u1', 'p1']));
    expect(consentFactsCte(new SqlParams(), registry, { ...live, practitioner: null })).not.toContain('PractitionerRole');
  });
});
