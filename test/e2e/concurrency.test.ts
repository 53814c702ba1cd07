import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { http, type FhirResponse } from '../support/hub.js';

/** Concurrent writers to one resource: optimistic locking with If-Match, and no lost update. */

const N = 50;
const uid = () => randomUUID().slice(0, 8);

async function newPatient() {
  const res = await http('POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Concurrent-${uid()}` }] });
  expect(res.status).toBe(201);
  return res.body;
}

/** Every version in the instance history (all pages), oldest first. */
async function allVersions(id: string): Promise<any[]> {
  const out: any[] = [];
  let url: string | undefined = `Patient/${id}/_history?_count=1000`;
  while (url) {
    const res: FhirResponse = await http('GET', url);
    expect(res.status).toBe(200);
    out.push(...res.body.entry);
    url = res.body.link.find((l: any) => l.relation === 'next')?.url;
  }
  return out.reverse();
}

/** The writer's mark: one `given` name per write, so each version says which write made it. */
const marked = (base: any, mark: string) => ({ ...base, meta: undefined, name: [{ family: base.name[0].family, given: [mark] }] });
const markOf = (version: any) => version.resource?.name?.[0]?.given?.[0];

describe('concurrent updates of one resource', () => {
  it(`${N} concurrent PUTs with If-Match: W/"1" → exactly one 200, ${N - 1} × 412`, async () => {
    const p = await newPatient();
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => http('PUT', `Patient/${p.id}`, { ...marked(p, `w${i}`), id: p.id }, { 'if-match': 'W/"1"' })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(N - 1);
    for (const r of results.filter((x) => x.status === 412)) expect(r.body.resourceType).toBe('OperationOutcome');

    const winner = results.findIndex((r) => r.status === 200);
    const versions = await allVersions(p.id);
    expect(versions.map((v) => v.resource.meta.versionId)).toEqual(['1', '2']);
    expect(markOf(versions[1])).toBe(`w${winner}`);
    expect((await http('GET', `Patient/${p.id}`)).body.name[0].given).toEqual([`w${winner}`]);
  });

  it(`${N} concurrent read-then-PUT with If-Match of the version read → one version per success, no lost update`, async () => {
    const p = await newPatient();
    const results = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const current = await http('GET', `Patient/${p.id}`);
        const v = current.body.meta.versionId;
        const res = await http('PUT', `Patient/${p.id}`, { ...marked(current.body, `r${i}`), id: p.id }, { 'if-match': `W/"${v}"` });
        return { mark: `r${i}`, read: v, status: res.status, version: res.body?.meta?.versionId };
      }),
    );
    expect(results.every((r) => r.status === 200 || r.status === 412)).toBe(true);
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);

    const versions = await allVersions(p.id);
    // versions 1..n+1 without gaps: one new version per success
    expect(versions.map((v) => v.resource.meta.versionId)).toEqual(Array.from({ length: ok.length + 1 }, (_, i) => String(i + 1)));
    // each success is in history, as the version it was told, written over the version it had read
    for (const r of ok) {
      expect(Number(r.version)).toBe(Number(r.read) + 1);
      expect(markOf(versions[Number(r.version) - 1])).toBe(r.mark);
    }
    // and no two successes claimed the same version
    expect(new Set(ok.map((r) => r.version)).size).toBe(ok.length);
  });

  it(`20 writers retrying on 412 until they succeed → all 20 writes are in history, in some order`, async () => {
    const p = await newPatient();
    const writer = async (mark: string) => {
      for (let attempt = 0; attempt < 500; attempt++) {
        const current = await http('GET', `Patient/${p.id}`);
        const res = await http('PUT', `Patient/${p.id}`, { ...marked(current.body, mark), id: p.id }, { 'if-match': `W/"${current.body.meta.versionId}"` });
        if (res.status === 200) return;
        expect(res.status).toBe(412);
      }
      throw new Error(`${mark} never succeeded`);
    };
    const marks = Array.from({ length: 20 }, (_, i) => `x${i}`);
    await Promise.all(marks.map(writer));
    const versions = await allVersions(p.id);
    expect(versions).toHaveLength(marks.length + 1);
    expect(versions.slice(1).map(markOf).sort()).toEqual([...marks].sort());
  });

  it(`${N} concurrent PUTs without If-Match all succeed, each as its own version`, async () => {
    const p = await newPatient();
    const results = await Promise.all(Array.from({ length: N }, (_, i) => http('PUT', `Patient/${p.id}`, { ...marked(p, `u${i}`), id: p.id })));
    expect(results.map((r) => r.status)).toEqual(Array(N).fill(200));
    const versions = await allVersions(p.id);
    expect(versions).toHaveLength(N + 1);
    expect(new Set(results.map((r) => r.body.meta.versionId)).size).toBe(N);
    for (const [i, r] of results.entries()) expect(markOf(versions[Number(r.body.meta.versionId) - 1])).toBe(`u${i}`);
    // the current version is the last one written
    const current = await http('GET', `Patient/${p.id}`);
    expect(current.body.meta.versionId).toBe(String(N + 1));
  });

  it('concurrent update-as-create of one new id creates it once; the others update it or get a conflict', async () => {
    const id = `concurrent-${uid()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => http('PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Race', given: [`c${i}`] }] })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 200 || s === 409), statuses.join(',')).toBe(true);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    const versions = await allVersions(id);
    expect(versions).toHaveLength(statuses.filter((s) => s !== 409).length);
  });
});
