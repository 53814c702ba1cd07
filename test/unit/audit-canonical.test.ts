import { describe, expect, it } from 'vitest';
import { canonicalJson, chainHash, GENESIS_HASH, Hasher, inKeyOrder, storedJson } from '../../src/audit/canonical-json.js';
import { expandRecord, TOKEN_MARK } from '../../src/audit/record-dictionary.js';
import { agentsOf, interactionEvent, rejectedEvent } from '../../src/audit/audit-event-builder.js';
import { FhirError } from '../../src/fhir/operation-outcome.js';
import { indexOf, recordText } from '../../src/audit/audit-record.js';

describe('canonical JSON and the hashed record', () => {
  it('sorts keys at every depth, drops undefined members, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: 'x', b: { z: 0, y: [2, 1] } }, null], c: 'é\u2028"' })).toBe('{"a":[{"b":{"y":[2,1],"z":0},"c":"x"},null],"b":1,"c":"é\u2028\\""}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    const v = { z: { b: 1, a: 2 } };
    canonicalJson(v);
    expect(Object.keys(v.z)).toEqual(['b', 'a']); // the input is not changed
  });

  it('the same record gives the same bytes whatever the key order it was built in', () => {
    const a = { resourceType: 'AuditEvent', id: '1', recorded: '2026-01-01T00:00:00.000Z', entity: [{ what: { reference: 'Patient/1' } }] };
    const b = { entity: [{ what: { reference: 'Patient/1' } }], recorded: '2026-01-01T00:00:00.000Z', id: '1', resourceType: 'AuditEvent' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('the hashed record text is itself canonical JSON of {agents, entities, event, id, patients, recorded, requestId, seq}', () => {
    const event: any = {
      resourceType: 'AuditEvent',
      id: 'abc',
      recorded: '2026-01-01T00:00:00.000Z',
      agent: [{ who: { reference: 'Practitioner/9', identifier: { value: 'u1' } }, requestor: true }],
      entity: [{ what: { reference: 'Patient/2' } }, { what: { reference: 'Observation/3' } }, { what: { identifier: { value: 'req-1' } }, type: { code: 'XrequestId' } }],
    };
    const content = canonicalJson(event);
    const idx = indexOf(event);
    expect(idx).toEqual({ id: 'abc', recorded: event.recorded, patients: ['Patient/2'], agents: ['Practitioner/9', 'u1'], entities: ['Observation/3'], requestId: 'req-1' });
    const text = recordText(7, content, idx);
    expect(text).toBe(canonicalJson({ seq: 7, event, ...idx }));
    expect(new Hasher().link(GENESIS_HASH.toString('hex'), text)).toBe(chainHash(GENESIS_HASH, text).toString('hex'));
  });

  it('the reused-buffer hasher hashes parts as their concatenation, growing for long texts', () => {
    const hasher = new Hasher();
    const prev = chainHash(GENESIS_HASH, 'x');
    const cases: [string, string, string][] = [
      ['{"a":', '"é€😀"', '}'],
      ['', '', ''],
      ['a', '', 'c'],
      // longer than the 64 kB buffer, with multi-byte characters where the first write stops
      ['p'.repeat(65_500), '€'.repeat(30_000), 's'.repeat(10)],
      ['😀'.repeat(40_000), 'b', '€'],
    ];
    for (const [a, b, c] of cases) expect(hasher.link(prev.toString('hex'), a, b, c), a.slice(0, 10)).toBe(chainHash(prev, a + b + c).toString('hex'));
    // a short one after the buffer grew
    expect(hasher.link(prev.toString('hex'), 'short')).toBe(chainHash(prev, 'short').toString('hex'));
  });

  it('the hub builds its records in canonical key order already (so canonicalJson copies nothing)', () => {
    const principals: any[] = [
      { kind: 'client', clientId: 'app', scopes: [], address: '10.0.0.1', purposeOfUse: ['TREAT'] },
      { kind: 'user', clientId: 'app', userId: 'u1', fhirUser: 'Practitioner/9', scopes: [], address: '10.0.0.1', purposeOfUse: ['TREAT', 'ETREAT'] },
      { kind: 'patient', userId: 'u2', patient: 'p1', scopes: [], address: '10.0.0.2' },
      { kind: 'system', scopes: [] },
      undefined,
    ];
    const interactions: any[] = [
      { kind: 'read', resourceType: 'Observation', id: 'o1', params: [], prefer: {}, door: 'rest', requestId: 'r1' },
      { kind: 'search-compartment', resourceType: 'Observation', compartment: { type: 'Patient', id: 'p1' }, params: [['code', 'x']], prefer: {}, door: 'rest', requestId: 'r2' },
      { kind: 'operation', operation: 'everything', resourceType: 'Patient', id: 'p1', params: [], prefer: {}, door: 'graphql' },
    ];
    let checked = 0;
    for (const principal of principals) {
      for (const ix of interactions) {
        for (const outcome of [{ result: { status: 200, resourceJson: '{"subject": {"reference": "Patient/p1"}}' } }, { error: new FhirError(403, 'no') }]) {
          const e = interactionEvent({ ...ix, principal }, 'http://hub/fhir', outcome as any, 'a note');
          expect(inKeyOrder(e), JSON.stringify(e)).toBe(e);
          // the stored form renders back to exactly the canonical JSON of the event
          const stored = storedJson(e);
          expect(stored).toContain(TOKEN_MARK);
          expect(stored.length).toBeLessThan(canonicalJson(e).length * 0.75);
          expect(expandRecord(stored)).toBe(canonicalJson(e));
          checked++;
        }
      }
      const r = rejectedEvent({ method: 'get', path: '/fhir/Nope', principal, baseUrl: 'http://hub/fhir', requestId: 'r3', door: 'rest', error: new FhirError(404, 'unknown') } as any);
      expect(inKeyOrder(r), JSON.stringify(r)).toBe(r);
      expect(expandRecord(storedJson(r))).toBe(canonicalJson(r));
    }
    expect(checked).toBe(30);
    // and an out-of-order record is still put in order (a copy)
    const unordered = { b: 1, a: { d: 1, c: 2 } };
    expect(inKeyOrder(unordered)).not.toBe(unordered);
  });

  it('a requester\'s agents are one frozen array, stored as the text it would have been written as', () => {
    const user = { kind: 'user', clientId: 'app', userId: 'u1', fhirUser: 'Practitioner/9', scopes: [], address: '10.0.0.1', purposeOfUse: ['TREAT'] } as any;
    const a = agentsOf(user);
    // the same requester in another request (a new principal object): the same array; any field differing: another
    expect(agentsOf({ ...user })).toBe(a);
    for (const change of [{ address: '10.0.0.2' }, { purposeOfUse: ['ETREAT'] }, { purposeOfUse: undefined }, { fhirUser: undefined }, { userId: 'u2' }, { clientId: 'other' }, { clientId: undefined }]) {
      const b = agentsOf({ ...user, ...change });
      expect(b, JSON.stringify(change)).not.toBe(a);
      expect(storedJson(b)).not.toBe(storedJson(a));
    }
    const patient = { kind: 'patient', patient: 'p1', userId: 'u3', scopes: [] } as any;
    expect(storedJson(agentsOf(patient))).toContain('"reference":"Patient/p1"');
    expect(storedJson(agentsOf({ ...patient, patient: 'p2' }))).toContain('"reference":"Patient/p2"');
    expect(Object.isFrozen(a) && Object.isFrozen(a[0]) && Object.isFrozen(a[0].who)).toBe(true);
    // its stored text is the one an unshared copy gets (a new array: written out)
    expect(storedJson(a)).toBe(storedJson([...a]));
    const event = interactionEvent({ kind: 'read', resourceType: 'Patient', id: 'p1', params: [], principal: user, door: 'rest' } as any, 'http://hub/fhir', { result: { status: 200 } as any });
    expect(event.agent).toBe(a);
    expect(expandRecord(storedJson(event))).toBe(canonicalJson(structuredClone(event)));
  });

  it('the stored form: canonical JSON with the dictionary\'s constants as tokens; anything else is written out', () => {
    const odd = { b: [1, undefined, () => 1, { toJSON: () => 'j' }], a: { y: null, x: 'é\u2028"\u0001', w: undefined }, c: -0, d: 1e21, e: true };
    expect(storedJson(odd)).toBe(canonicalJson(odd));
    expect(storedJson(undefined)).toBe('null');
    // a caller's string that looks like a token is escaped by JSON, so it can never be taken for one
    const e = interactionEvent({ kind: 'read', resourceType: 'Patient', id: 'p1', params: [], prefer: {}, door: 'rest', requestId: `${TOKEN_MARK}A` } as any, 'http://hub/fhir', { result: { status: 200 } } as any);
    const stored = storedJson(e);
    expect(stored).toContain('"value":"\\u0001A"');
    expect(JSON.parse(expandRecord(stored))).toEqual(JSON.parse(canonicalJson(e)));
    // records stored before the dictionary existed hold no token and render as they are
    const v1 = canonicalJson(e);
    expect(expandRecord(v1)).toBe(v1);
    // a token the dictionary does not know (only an altered row holds one) renders as null: still JSON
    expect(expandRecord(`{"a":${TOKEN_MARK}~}`)).toBe('{"a":null}');
  });
});
