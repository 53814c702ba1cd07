import { describe, expect, it } from 'vitest';
import type { ConsentContext } from '../../src/consent/consent-context.js';
import { ConsentFactsCache } from '../../src/consent/consent-facts-cache.js';
import { ConsentStage } from '../../src/consent/consent-stage.js';
import { SearchParamRegistry } from '../../src/fhir/search/params/search-param-registry.js';

const registry = new SearchParamRegistry();

/** The context JSON a live statement returns (consentContextExpression). */
const liveContext = (gen: string, extra: Record<string, unknown> = {}) => ({
  optIn: false, hideDenied: false, sessions: [], patients: [], roles: ['PractitionerRole/r1'], organizations: ['Organization/o1'],
  gen, nextChange: null, denials: [], ...extra,
});

const context = (generation?: ConsentContext['generation']): ConsentContext => ({
  policy: { base: 'opt-out', hideDenied: false },
  breakGlass: { sessions: [], patients: [] },
  denials: [],
  generation,
});

describe('ConsentFactsCache', () => {
  const live = { userId: 'u1', practitioner: 'p1', patients: [] };

  it('keeps a context with its generation, per user and practitioner, without denials', () => {
    const cache = new ConsentFactsCache();
    cache.put(live, { ...context({ gen: '3', nextChange: null }), denials: [{ patientId: 'a', consentId: 'c', provision: 'provision' }] });
    expect(cache.get({ ...live, patients: ['x'] })?.denials).toEqual([]);
    expect(cache.get({ ...live, practitioner: 'p2' })).toBeUndefined();
    expect(cache.get({ ...live, userId: 'u2' })).toBeUndefined();
    cache.forget(live);
    expect(cache.get(live)).toBeUndefined();
  });

  it('does not keep a context read without a generation', () => {
    const cache = new ConsentFactsCache();
    cache.put(live, context());
    expect(cache.get(live)).toBeUndefined();
  });

  it('is bounded', () => {
    const cache = new ConsentFactsCache(2);
    for (const u of ['a', 'b', 'c']) cache.put({ ...live, userId: u }, context({ gen: '1', nextChange: null }));
    expect(cache.get({ ...live, userId: 'a' })).toBeUndefined();
    expect(cache.get({ ...live, userId: 'c' })).toBeDefined();
  });

  it('holds while the generation is the same and no session of the user has started or ended', () => {
    const kept = context({ gen: '7', nextChange: 1_000 });
    expect(ConsentFactsCache.held(kept, { gen: '7', now: 999, denials: [] })).toBe(true);
    expect(ConsentFactsCache.held(kept, { gen: '7', now: 1_000, denials: [] })).toBe(false);
    expect(ConsentFactsCache.held(kept, { gen: '8', now: 0, denials: [] })).toBe(false);
    expect(ConsentFactsCache.held(kept, undefined)).toBe(false);
    expect(ConsentFactsCache.held(context({ gen: '7', nextChange: null }), { gen: '7', now: 5e12, denials: [] })).toBe(true);
    expect(ConsentFactsCache.held(context(), { gen: '7', now: 0, denials: [] })).toBe(false);
  });
});

describe('ConsentStage with kept facts', () => {
  const principal = { kind: 'user', userId: 'u1', fhirUser: 'Practitioner/p1', scopes: [] } as any;
  const search = () => ({ kind: 'search-type', resourceType: 'Observation', params: [['subject', 'Patient/a']], principal, requestId: 'r' }) as any;

  /** A stage whose engine (`next`) answers as the database would, at generation `db.gen`. */
  function harness() {
    const db = { gen: '1', contextReads: 0, query: async () => ({ rows: [{ context: liveContext(db.gen) }] }) };
    const calls: { path: 'live' | 'validated'; principal: any }[] = [];
    const records: string[] = [];
    const audit = { recordWith: (_ix: any, e: any) => records.push(e.kind), record: () => undefined };
    const stage = new ConsentStage(db as any, { enabled: true } as any, {} as any, registry, audit as any);
    let fail = false;
    const run = async (ix = search(), ctx: any = {}) =>
      stage.handle(ix, ctx, async () => {
        const consent = ix.restriction.consent;
        calls.push({ path: consent.live ? 'live' : 'validated', principal: ix.principal });
        if (fail) throw new Error('search failed');
        if (consent.live) consent.live.report(liveContext(db.gen, { denials: [['a', 'c1', 'provision.provision[0]']] }));
        else consent.validated.report({ gen: db.gen, now: Date.now(), denials: [['a', 'c1', 'provision.provision[0]']] });
        return { status: 200 } as any;
      });
    return { db, calls, records, run, failNext: () => (fail = true) };
  }

  it('decides with the facts a live statement read, while the statement says they still hold', async () => {
    const h = harness();
    await h.run();
    await h.run();
    await h.run();
    expect(h.calls.map((c) => c.path)).toEqual(['live', 'validated', 'validated']);
    // the kept facts mark the principal as the live ones did: the roles' organization, and the `filtered` record
    expect(h.calls[1].principal.organization).toBe('Organization/o1');
    expect(h.records).toEqual(['filtered', 'filtered', 'filtered']);
  });

  it('decides again with live facts, for the unmarked principal, once the generation moved on', async () => {
    const h = harness();
    await h.run();
    h.db.gen = '2';
    await h.run();
    await h.run();
    expect(h.calls.map((c) => c.path)).toEqual(['live', 'validated', 'live', 'validated']);
    expect(h.calls[2].principal).toBe(principal);
    expect(h.records).toEqual(['filtered', 'filtered', 'filtered']);
  });

  it('does not keep facts read inside a transaction (they may hold its own uncommitted changes)', async () => {
    const h = harness();
    await h.run(search(), { tx: h.db });
    await h.run();
    expect(h.calls.map((c) => c.path)).toEqual(['live', 'live']);
  });

  it('does not run a failed search again: the error is the answer, recorded with facts read live', async () => {
    const h = harness();
    await h.run();
    h.failNext();
    await expect(h.run()).rejects.toThrow('search failed');
    expect(h.calls.map((c) => c.path)).toEqual(['live', 'validated']);
  });
});

describe('ConsentStage reads with kept facts', () => {
  const principal = { kind: 'user', userId: 'u1', fhirUser: 'Practitioner/p1', scopes: [] } as any;
  const read = () => ({ kind: 'read', resourceType: 'Observation', id: 'o1', params: [], principal, requestId: 'r' }) as any;

  function harness() {
    const db = { gen: '1', contextReads: 0, query: async () => ((db.contextReads += 1), { rows: [{ context: liveContext(db.gen) }] }) };
    const checks: string[] = [];
    const search = {
      matchIds: async (_q: any, _type: string, _criteria: string, _limit: number, restriction: any) => {
        const v = restriction.consent.validated;
        checks.push(v ? 'validated' : 'bound');
        v?.report({ gen: db.gen, now: Date.now(), denials: [] });
        return ['o1'];
      },
    };
    const stage = new ConsentStage(db as any, { enabled: true } as any, search as any, registry, { recordWith: () => undefined } as any);
    let engine = 0;
    const run = () => stage.handle(read(), {} as any, async () => ((engine += 1), { status: 200 } as any));
    return { db, checks, run, engine: () => engine };
  }

  it('reads the facts once, then checks each read and the facts in one statement', async () => {
    const h = harness();
    await h.run();
    await h.run();
    await h.run();
    expect(h.db.contextReads).toBe(1);
    expect(h.checks).toEqual(['bound', 'validated', 'validated']);
    expect(h.engine()).toBe(3);
  });

  it('reads the facts again when the generation moved on', async () => {
    const h = harness();
    await h.run();
    h.db.gen = '2';
    await h.run();
    await h.run();
    expect(h.checks).toEqual(['bound', 'validated', 'bound', 'validated']);
    expect(h.db.contextReads).toBe(2);
    expect(h.engine()).toBe(3);
  });
});
