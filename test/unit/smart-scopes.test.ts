import { describe, expect, it } from 'vitest';
import { allowedScopes, clinicalScopes, covers, decide, parseClinicalScope } from '../../src/modules/auth/smart-scopes.js';

describe('SMART scope parsing', () => {
  it('reads v1 and v2 scopes into permissions', () => {
    expect([...parseClinicalScope('patient/Observation.read')!.perms]).toEqual(['r', 's']);
    expect([...parseClinicalScope('user/*.write')!.perms]).toEqual(['c', 'u', 'd']);
    expect([...parseClinicalScope('system/*.*')!.perms]).toEqual(['c', 'r', 'u', 'd', 's']);
    expect([...parseClinicalScope('patient/Encounter.cruds')!.perms]).toEqual(['c', 'r', 'u', 'd', 's']);
    expect(parseClinicalScope('patient/Observation.rs?category=laboratory')!.query).toEqual([['category', 'laboratory']]);
  });

  it('refuses malformed scopes', () => {
    for (const s of ['patient/Observation', 'patient/Observation.', 'patient/Observation.sr', 'doctor/*.read', 'patient/observation.read', 'openid', 'patient/Observation.rs?', 'patient/Observation.rs?_id=1']) {
      expect(parseClinicalScope(s), s).toBeUndefined();
    }
  });
});

describe('client ceilings', () => {
  it('a wildcard covers narrower scopes of the same context', () => {
    expect(covers(parseClinicalScope('patient/*.rs')!, parseClinicalScope('patient/Observation.read')!)).toBe(true);
    expect(covers(parseClinicalScope('patient/*.rs')!, parseClinicalScope('patient/Observation.rs?category=x')!)).toBe(true);
    expect(covers(parseClinicalScope('patient/*.rs')!, parseClinicalScope('user/Observation.rs')!)).toBe(false);
    expect(covers(parseClinicalScope('patient/*.rs')!, parseClinicalScope('patient/Observation.cruds')!)).toBe(false);
    expect(covers(parseClinicalScope('patient/Observation.rs?category=x')!, parseClinicalScope('patient/Observation.rs')!)).toBe(false);
  });

  it('drops what the registration does not allow', () => {
    expect(allowedScopes(['openid', 'launch', 'patient/Observation.rs', 'user/*.rs', 'system/*.*'], 'openid patient/*.rs')).toEqual(['openid', 'patient/Observation.rs']);
  });
});

describe('decisions', () => {
  it('user/ beats patient/; unrestricted beats query-restricted', () => {
    const both = clinicalScopes(['patient/Observation.rs', 'user/Observation.rs']);
    expect(decide(both, 'Observation', 'r')).toEqual({ allowed: true, patientOnly: false });
    expect(decide(clinicalScopes(['patient/*.rs']), 'Observation', 's')).toEqual({ allowed: true, patientOnly: true });
    expect(decide(clinicalScopes(['patient/*.rs']), 'Observation', 'c')).toEqual({ allowed: false });
    const q = decide(clinicalScopes(['patient/Observation.rs?category=lab', 'patient/Observation.rs?category=vital']), 'Observation', 'r');
    expect(q).toEqual({ allowed: true, patientOnly: true, queries: [[['category', 'lab']], [['category', 'vital']]] });
    expect(decide(clinicalScopes(['patient/Observation.rs?category=lab', 'patient/Observation.rs']), 'Observation', 'r')).toEqual({ allowed: true, patientOnly: true });
  });
});
