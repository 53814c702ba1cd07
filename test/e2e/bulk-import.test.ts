import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fhirBase, http } from '../support/hub.js';
import { deleteExport, downloadAll, fetch, importParameters, runImport, startExport, upload, waitForManifest } from './bulk-support.js';

/**
 * $import over HTTP: NDJSON uploaded to the hub (or an export's file) loaded as a background job; valid lines are
 * loaded whole, each rejected line is reported with its line number, and nothing of a rejected line is stored.
 */
const RUN = `imp-${randomUUID().slice(0, 8)}`;
const TAG = { system: 'urn:test:bulk-import', code: RUN };
const TAG_Q = `_tag=urn:test:bulk-import|${RUN}`;

const patient = (id: string | undefined, family: string, extra: any = {}) =>
  JSON.stringify({ resourceType: 'Patient', ...(id ? { id } : {}), meta: { tag: [TAG] }, name: [{ family }], ...extra });

describe('$import', () => {
  it('loads valid lines, reports each rejected line, stores nothing of a rejected line', async () => {
    const id1 = `${RUN}-1`;
    const patients = await upload([
      patient(id1, 'ImportOne'), // 1
      '{"resourceType": "Patient", "name": [', // 2: not JSON
      patient(`${RUN}-bad`, 'ImportRejected', { gender: 'robot' }), // 3: required binding violated
      '', // 4: blank, skipped
      patient(undefined, 'ImportNoId'), // 5: gets an id
      JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }), // 6: not a Patient
    ]);
    const observations = await upload([
      JSON.stringify({ resourceType: 'Observation', id: `${RUN}-obs`, meta: { tag: [TAG] }, status: 'final', code: { text: 'imported' }, subject: { reference: `Patient/${id1}` } }),
    ]);
    const { status, manifest } = await runImport([{ type: 'Patient', url: patients }, { url: observations }]);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(Object.fromEntries(manifest.output.map((o: any) => [o.type, o.count]))).toEqual({ Patient: 2, Observation: 1 });
    expect(manifest.error).toHaveLength(1);
    const errorFile = await fetch(manifest.error[0].url);
    expect(errorFile.status).toBe(200);
    expect(errorFile.headers.get('content-type')).toMatch(/^application\/fhir\+ndjson/);
    const outcomes = (await errorFile.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(outcomes.map((o) => o.resourceType)).toEqual(['OperationOutcome', 'OperationOutcome', 'OperationOutcome']);
    expect(outcomes.map((o) => o.issue[0].location[0])).toEqual(['line 2', 'line 3', 'line 6']);
    expect(outcomes[1].issue.some((i: any) => /gender|robot/.test(i.diagnostics))).toBe(true);

    const one = await http('GET', `Patient/${id1}`);
    expect(one.status).toBe(200);
    expect(one.body.name[0].family).toBe('ImportOne');
    expect((await http('GET', `Patient/${RUN}-bad`)).status).toBe(404);
    const found = await http('GET', `Patient?${TAG_Q}&_count=50`);
    expect(found.body.entry.map((e: any) => e.resource.name[0].family).sort()).toEqual(['ImportNoId', 'ImportOne']);
    expect((await http('GET', `Observation/${RUN}-obs`)).body.subject.reference).toBe(`Patient/${id1}`);

    const del = await fetch(status, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await fetch(status)).status).toBe(404);
  });

  it('loads the files of an export back (round trip: same ids, a new version each)', async () => {
    const exportStatus = await startExport(`$export?_type=Patient&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}`);
    const { manifest: exported } = await waitForManifest(exportStatus);
    const before = (await downloadAll(exported)).get('Patient')!;
    expect(before).toHaveLength(2);
    const { manifest } = await runImport(exported.output.map((o) => ({ type: o.type, url: o.url })));
    expect(manifest.output).toEqual([expect.objectContaining({ type: 'Patient', count: 2 })]);
    expect(manifest.error).toEqual([]);
    for (const p of before) {
      const now = (await http('GET', `Patient/${p.id}`)).body;
      expect(now.meta.versionId).toBe(String(Number(p.meta.versionId) + 1));
      expect(now.name).toEqual(p.name);
    }
    await deleteExport(exportStatus, exported);
  });

  it('refuses bad requests: no Prefer, files not on this hub, unknown uploads, uploads that are not NDJSON', async () => {
    const post = (body: any, prefer = 'respond-async') =>
      fetch(`${fhirBase()}/$import`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', prefer }, body: JSON.stringify(body) });
    const url = await upload([patient(`${RUN}-x`, 'Never')]);
    const cases = [
      [importParameters([{ url }]), ''],
      [importParameters([{ url: 'http://example.org/data/Patient.ndjson' }]), 'respond-async'],
      [importParameters([{ url: `${fhirBase()}/_bulk/files/${randomUUID()}` }]), 'respond-async'],
      [importParameters([{ type: 'NotAType', url }]), 'respond-async'],
      [{ resourceType: 'Parameters', parameter: [] }, 'respond-async'],
    ] as const;
    for (const [body, prefer] of cases) {
      const res = await post(body, prefer);
      const oo = await res.json();
      expect(res.status, JSON.stringify(oo)).toBe(400);
      expect(oo.resourceType).toBe('OperationOutcome');
    }
    const wrongType = await fetch(`${fhirBase()}/_bulk/files`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b' });
    expect(wrongType.status).toBe(415);
    expect((await http('GET', `Patient/${RUN}-x`)).status).toBe(404);
  });

  it('is declared in the CapabilityStatement', async () => {
    const cs = (await http('GET', 'metadata')).body;
    expect(cs.rest[0].operation).toContainEqual({ name: 'import', definition: 'urn:hie-hub:OperationDefinition/bulk-import' });
  });
});
