import { describe, expect, inject, it } from 'vitest';
import { http } from '../support/hub.js';

/** The authorization server's events (token issued or refused) land in the audit chain. */
describe('authorization events in the audit trail', () => {
  const hubUrl = (): string => inject('hubUrl');
  const tokenRequest = (id: string, secret: string) =>
    fetch(`${hubUrl()}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }).toString(),
    });
  const records = async (since: string) => {
    const r = await http('GET', `AuditEvent?subtype=oauth-token&date=ge${encodeURIComponent(since)}&_count=200`);
    expect(r.status).toBe(200);
    return (r.body.entry ?? []).map((e: any) => e.resource);
  };
  const waitFor = async (since: string, pred: (a: any) => boolean) => {
    for (let i = 0; i < 40; i++) {
      const found = (await records(since)).find(pred);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  };

  it('a refused and an issued token each leave a record naming the client', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const bad = await tokenRequest(inject('bootstrapClientId'), 'not-the-secret');
    expect(bad.status).toBe(401);
    const refused = await waitFor(since, (a) => a.outcome === '4' && a.agent?.some((g: any) => JSON.stringify(g).includes(inject('bootstrapClientId'))));
    expect(refused, 'a record of the refused token request').toBeDefined();
    expect(refused.outcomeDesc).toMatch(/token-failed/);
    const good = await tokenRequest(inject('bootstrapClientId'), inject('bootstrapClientSecret'));
    expect(good.status).toBe(200);
    const issued = await waitFor(since, (a) => a.outcome === '0' && /token-issued/.test(a.outcomeDesc ?? ''));
    expect(issued, 'a record of the issued token').toBeDefined();
  });
});
