import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { http } from '../support/hub.js';
import { patientsOf } from './audit-support.js';
import { backendService } from './auth-support.js';
import { deleteExport, downloadAll, fetch, runImport, startExport, upload, waitForManifest } from './bulk-support.js';

/**
 * Bulk data events in the hash-chained audit trail (DCM 110106 Export / 110107 Import, subtype
 * `urn:hie-hub:bulk-data|<event>`, the job as `urn:uuid:<id>` entity, the client as agent): one record per finished
 * job, committed before its manifest is served; one per file download; one per cancellation; none for refused
 * requests.
 */
const BULK = 'urn:hie-hub:bulk-data';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const RUN = `bulk-audit-${randomUUID().slice(0, 8)}`;
const TAG_Q = `_tag=urn:test:bulk-audit|${RUN}`;

let client: { clientId: string; headers: Record<string, string> };
let other: { clientId: string; headers: Record<string, string> };
let A: any;
let B: any;

async function create(resource: any): Promise<any> {
  const res = await http('POST', resource.resourceType, { ...resource, meta: { tag: [{ system: 'urn:test:bulk-audit', code: RUN }] } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Every record naming the job (oldest first). */
async function recordsOfJob(jobId: string): Promise<any[]> {
  const res = await http('GET', `AuditEvent?entity=urn:uuid:${jobId}&_sort=date&_count=100`);
  expect(res.status, res.text).toBe(200);
  return (res.body.entry ?? []).map((e: any) => e.resource);
}

const events = (records: any[]) => records.map((r) => r.subtype?.[0]?.code);
const clientOf = (r: any) => r.agent.find((a: any) => a.who?.identifier?.system === 'urn:hie-hub:client-id')?.who.identifier.value;
const jobOf = (statusUrl: string) => statusUrl.split('/').pop()!;

beforeAll(async () => {
  [client, other] = await Promise.all([backendService('system/*.read'), backendService('system/*.read')]);
  A = await create({ resourceType: 'Patient', name: [{ family: RUN, given: ['Alpha'] }] });
  B = await create({ resourceType: 'Patient', name: [{ family: RUN, given: ['Beta'] }] });
  await create({ resourceType: 'Observation', status: 'final', code: { text: 'bulk audit' }, subject: { reference: `Patient/${A.id}` } });
});

describe('export', () => {
  let status: string;
  let manifest: Awaited<ReturnType<typeof waitForManifest>>['manifest'];

  it('a completed export: exactly one export-completed record, committed before the manifest is served', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient,Observation' },
        { name: 'patient', valueReference: { reference: `Patient/${A.id}` } },
      ],
    };
    status = await startExport('Patient/$export', { body, headers: client.headers });
    ({ manifest } = await waitForManifest(status, 60_000, client.headers));
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    // no waiting: the record commits with the job's completion
    const records = await recordsOfJob(jobOf(status));
    expect(events(records)).toEqual(['export-completed']);
    const [r] = records;
    expect(r.type).toEqual({ system: DCM, code: '110106', display: 'Export' });
    expect(r.subtype[0]).toMatchObject({ system: BULK, code: 'export-completed' });
    expect(r.action).toBe('E');
    expect(r.outcome).toBe('0');
    expect(clientOf(r)).toBe(client.clientId);
    expect(patientsOf(r)).toEqual([`Patient/${A.id}`]);
    const exported = manifest.output.reduce((n, o) => n + o.count, 0);
    expect(r.outcomeDesc).toBe(`completed patient-level export of Patient, Observation for 1 patients: ${exported} resources`);
    // the client is an indexed agent: found by its id
    const byClient = await http('GET', `AuditEvent?agent:identifier=${client.clientId}&subtype=${BULK}|export-completed`);
    expect(byClient.body.entry.map((e: any) => e.resource.id)).toEqual([r.id]);
    // and the search does not find records of jobs that do not exist
    expect((await recordsOfJob(randomUUID()))).toEqual([]);
  });

  it('each file download leaves an export-file-downloaded record; refused downloads leave none', async () => {
    const files = await downloadAll(manifest, client.headers);
    expect([...files.keys()].sort()).toEqual(['Observation', 'Patient']);
    const again = await fetch(manifest.output[0].url, { headers: client.headers });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    // refused: another client (403), a file that does not exist (404)
    const foreign = await fetch(manifest.output[0].url, { headers: other.headers });
    expect(foreign.status).toBe(403);
    await foreign.arrayBuffer();
    const missing = await fetch(`${status}/Nothing-1.ndjson`, { headers: client.headers });
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();

    const downloads = (await recordsOfJob(jobOf(status))).filter((r) => r.subtype[0].code === 'export-file-downloaded');
    expect(downloads).toHaveLength(manifest.output.length + 1);
    for (const d of downloads) {
      expect(d.type.code).toBe('110106');
      expect(d.action).toBe('R');
      expect(d.outcome).toBe('0');
      expect(clientOf(d)).toBe(client.clientId);
      expect(d.agent.some((a: any) => a.network?.address)).toBe(true);
    }
    const described = downloads.map((d) => d.outcomeDesc).sort();
    const first = manifest.output[0];
    const expected = [...manifest.output, first].map((o) => `downloaded ${o.url.split('/').pop()}: ${o.count} ${o.type}`).sort();
    expect(described).toEqual(expected);
  });

  it('DELETE records export-cancelled once; a refused DELETE records nothing', async () => {
    const s = await startExport(`$export?_type=Patient&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}`, { headers: client.headers });
    const foreign = await fetch(s, { method: 'DELETE', headers: other.headers });
    expect(foreign.status).toBe(403);
    await foreign.arrayBuffer();
    expect(events(await recordsOfJob(jobOf(s)))).not.toContain('export-cancelled');
    await deleteExport(s, undefined, client.headers);
    const again = await fetch(s, { method: 'DELETE', headers: client.headers });
    expect(again.status).toBe(404);
    await again.arrayBuffer();
    const records = await recordsOfJob(jobOf(s));
    const cancelled = records.filter((r) => r.subtype[0].code === 'export-cancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0].outcomeDesc).toMatch(/^cancelled system-level export of Patient for all patients: \d+ resources$/);
    expect(clientOf(cancelled[0])).toBe(client.clientId);
    // the job may have finished before the DELETE arrived; it never failed
    expect(events(records).filter((e) => e !== 'export-completed' && e !== 'export-cancelled')).toEqual([]);
  });

  it('the records of a completed export of the first patient do not name the others', async () => {
    const byB = await http('GET', `AuditEvent?patient=${B.id}&subtype=${BULK}|export-completed`);
    expect(byB.status).toBe(200);
    expect(byB.body.entry ?? []).toEqual([]);
    const byA = await http('GET', `AuditEvent?patient=${A.id}&subtype=${BULK}|export-completed`);
    expect(byA.body.entry.map((e: any) => e.resource.entity.map((x: any) => x.what?.reference))).toEqual([expect.arrayContaining([`urn:uuid:${jobOf(status)}`])]);
  });
});

describe('import', () => {
  it('a finished import: exactly one import-completed record with what was loaded and rejected', async () => {
    const url = await upload([
      JSON.stringify({ resourceType: 'Patient', id: `${RUN}-imported`, name: [{ family: `${RUN}-imported` }] }),
      '{"resourceType": "Patient", "name": [', // rejected: not JSON
    ]);
    const { status: s, manifest } = await runImport([{ type: 'Patient', url }]);
    expect(manifest.error).toHaveLength(1);
    const records = await recordsOfJob(jobOf(s));
    expect(events(records)).toEqual(['import-completed']);
    const [r] = records;
    expect(r.type).toEqual({ system: DCM, code: '110107', display: 'Import' });
    expect(r.action).toBe('C');
    expect(r.outcome).toBe('0'); // 207: loaded with rejected lines
    expect(r.outcomeDesc).toBe('1 resources loaded (Patient), 1 lines rejected');
    expect(clientOf(r)).toBe(inject('bootstrapClientId'));
    const del = await fetch(s, { method: 'DELETE' });
    expect(del.status).toBe(202);
    await del.arrayBuffer();
  });
});
