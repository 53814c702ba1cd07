import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirBase, http } from '../support/hub.js';
import { backendService } from './auth-support.js';
import { deleteExport, downloadAll, fetch, idsOf, importParameters, kickOff, startExport, waitForManifest, type Manifest } from './bulk-support.js';
import { clinician } from './consent-support.js';

/**
 * Bulk $export over HTTP against the shared hub: kick-off → poll → download → delete at system, patient and group
 * level with each parameter. Other test files load data concurrently, so every expectation is scoped to this
 * file's own resources (a tag of its own in `_typeFilter`, its own Group, or explicit `patient` parameters).
 */
const RUN = `bulk-${randomUUID().slice(0, 8)}`;
const TAG = { system: 'urn:test:bulk', code: RUN };
const TAG_Q = `_tag=urn:test:bulk|${RUN}`;
const CODES = 'urn:test:bulk-code';

async function create(resource: any): Promise<any> {
  const res = await http('POST', resource.resourceType, { ...resource, meta: { tag: [TAG] } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const observation = (patient: any, code: string) =>
  create({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: CODES, code }] }, subject: { reference: `Patient/${patient.id}` } });

let A: any, B: any, C: any;
let obs: Record<string, any>;
let condA: any;
let group: any;

beforeAll(async () => {
  [A, B, C] = await Promise.all(['Alpha', 'Beta', 'Gamma'].map((family) => create({ resourceType: 'Patient', name: [{ family, given: ['Bulk'] }], gender: 'other' })));
  obs = { A1: await observation(A, 'bp'), A2: await observation(A, 'hr'), B1: await observation(B, 'bp'), C1: await observation(C, 'hr') };
  condA = await create({ resourceType: 'Condition', subject: { reference: `Patient/${A.id}` }, code: { text: 'bulk test condition' } });
  group = await create({
    resourceType: 'Group',
    type: 'person',
    actual: true,
    member: [{ entity: { reference: `Patient/${A.id}` } }, { entity: { reference: `Patient/${B.id}` } }, { entity: { reference: `Patient/${C.id}` }, inactive: true }],
  });
});

describe('system-level $export', () => {
  it('exports exactly the resources _typeFilter selects, as NDJSON of the right type; DELETE removes job and files', async () => {
    const status = await startExport(`$export?_type=Patient,Observation&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Observation?${TAG_Q}`)}`);
    const { manifest } = await waitForManifest(status);
    expect(manifest.request).toContain('/$export?_type=Patient');
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Patient'))).toEqual(idsOf([A, B, C]));
    expect(idsOf(files.get('Observation'))).toEqual(idsOf(Object.values(obs)));
    // the exported content is the stored resource
    expect(files.get('Patient')!.find((p) => p.id === A.id)).toEqual(A);
    await deleteExport(status, manifest);
  });

  it('ORs several _typeFilter queries of one type, each with AND-ed parameters', async () => {
    const filters = [`Observation?${TAG_Q}&code=${CODES}|bp`, `Observation?${TAG_Q}&subject=Patient/${C.id}`];
    const status = await startExport(`$export?_type=Observation&${filters.map((f) => `_typeFilter=${encodeURIComponent(f)}`).join('&')}`);
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Observation'))).toEqual(idsOf([obs.A1, obs.B1, obs.C1]));
    await deleteExport(status, manifest);
  });

  it('_elements keeps the listed elements (and mandatory ones) of the named type, marked SUBSETTED', async () => {
    const status = await startExport(`$export?_type=Patient,Observation&_elements=Patient.name&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Observation?${TAG_Q}`)}`);
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    const a = files.get('Patient')!.find((p) => p.id === A.id);
    expect(Object.keys(a).sort()).toEqual(['id', 'meta', 'name', 'resourceType']);
    expect(a.name).toEqual(A.name);
    expect(a.meta.tag.map((t: any) => t.code)).toContain('SUBSETTED');
    // Observation is not named by `Patient.name`: exported whole
    expect(files.get('Observation')!.find((o) => o.id === obs.A1.id)).toEqual(obs.A1);
    await deleteExport(status, manifest);
  });

  it('accepts the three spellings of NDJSON in _outputFormat and rejects others', async () => {
    for (const format of ['application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
      const status = await startExport(`$export?_type=Patient&_outputFormat=${encodeURIComponent(format)}&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}`);
      const { manifest } = await waitForManifest(status);
      expect(manifest.output.map((o) => o.count)).toEqual([3]);
      await deleteExport(status, manifest);
    }
    const bad = await kickOff('$export?_outputFormat=text/csv');
    expect(bad.status).toBe(400);
    expect((await bad.json()).resourceType).toBe('OperationOutcome');
  });

  it('answers bad kick-offs with 400 and an OperationOutcome', async () => {
    const cases: [string, Record<string, string>?][] = [
      ['$export', { prefer: '' }], // no Prefer: respond-async
      ['$export', { accept: 'application/json' }], // not application/fhir+json
      ['$export?_type=NotAType'],
      ['$export?_since=yesterday'],
      ['$export?_since=2024-01-01'], // a date, not an instant
      ['$export?_nonsense=1'],
      [`$export?_type=Patient&_typeFilter=${encodeURIComponent('Patient?no-such-param=1')}`],
      [`$export?_type=Patient&_typeFilter=${encodeURIComponent('Observation?code=x')}`], // type not exported
      ['$export?_typeFilter=code=x'],
      ['$export?_elements=not%20an%20element'],
      [`$export?patient=Patient/${A.id}`], // patient is not a system-level parameter
      ['$export?includeAssociatedData=_notSupported'], // (supported values: bulk-associated-data.test.ts)
      ['Patient/$export?_type=Organization'], // not in the Patient compartment
    ];
    for (const [path, headers] of cases) {
      const res = await kickOff(path, { headers });
      const body = await res.json();
      expect(res.status, `${path} ${JSON.stringify(headers)}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.resourceType).toBe('OperationOutcome');
    }
    // Prefer: handling=lenient ignores what the server does not know
    const lenient = await kickOff('$export?_type=Patient&_nonsense=1&includeAssociatedData=_notSupported', { headers: { prefer: 'respond-async, handling=lenient' } });
    expect(lenient.status).toBe(202);
    const warnings = (await lenient.json()).issue.filter((i: any) => i.severity === 'warning').map((i: any) => i.diagnostics);
    expect(warnings).toEqual([expect.stringContaining("'_nonsense'"), expect.stringContaining("'_notSupported'")]);
    await deleteExport(lenient.headers.get('content-location')!);
  });

  it('has no export at other places: Patient/[id]/$export, Group/$export, unknown groups', async () => {
    for (const path of [`Patient/${A.id}/$export`, 'Group/$export', 'Group/no-such-group/$export', 'Observation/$export']) {
      const res = await kickOff(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).resourceType).toBe('OperationOutcome');
    }
    const unknownJob = await fetch(`${fhirBase()}/_bulk/export/${randomUUID()}`);
    expect(unknownJob.status).toBe(404);
  });
});

describe('patient-level $export', () => {
  it('GET: patient compartment types, filtered to this file by _typeFilter', async () => {
    const status = await startExport(`Patient/$export?_type=Patient,Observation,Condition&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Observation?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Condition?${TAG_Q}`)}`);
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Patient'))).toEqual(idsOf([A, B, C]));
    expect(idsOf(files.get('Observation'))).toEqual(idsOf(Object.values(obs)));
    expect(idsOf(files.get('Condition'))).toEqual([condA.id]);
    await deleteExport(status, manifest);
  });

  it('POST Parameters with patient: only those patients’ compartments', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient,Observation,Condition' },
        { name: '_outputFormat', valueString: 'application/fhir+ndjson' },
        { name: 'patient', valueReference: { reference: `Patient/${A.id}` } },
      ],
    };
    const status = await startExport('Patient/$export', { body });
    const { manifest } = await waitForManifest(status);
    expect(manifest.request).toMatch(/\/Patient\/\$export$/);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Patient'))).toEqual([A.id]);
    expect(idsOf(files.get('Observation'))).toEqual(idsOf([obs.A1, obs.A2]));
    expect(idsOf(files.get('Condition'))).toEqual([condA.id]);
    await deleteExport(status, manifest);
  });
});

describe('group-level $export', () => {
  it('exports the compartments of the active members of the Group, every compartment type by default', async () => {
    const status = await startExport(`Group/${group.id}/$export`);
    const { manifest } = await waitForManifest(status);
    // Group is in the Patient compartment (Group.member): the group itself is part of its members' data
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Condition', 'Group', 'Observation', 'Patient']);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Group'))).toEqual([group.id]);
    expect(idsOf(files.get('Patient'))).toEqual(idsOf([A, B])); // C's membership is inactive
    expect(idsOf(files.get('Observation'))).toEqual(idsOf([obs.A1, obs.A2, obs.B1]));
    expect(idsOf(files.get('Condition'))).toEqual([condA.id]);
    await deleteExport(status, manifest);
  });

  it('POST with patient and _typeFilter narrows the group', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Observation' },
        { name: 'patient', valueReference: { reference: `Patient/${B.id}` } },
        { name: 'patient', valueReference: { reference: `Patient/${C.id}` } }, // not an active member: nothing of C
        { name: '_typeFilter', valueString: `Observation?code=${CODES}|bp` },
      ],
    };
    const status = await startExport(`Group/${group.id}/$export`, { body });
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    expect([...files.keys()]).toEqual(['Observation']);
    expect(idsOf(files.get('Observation'))).toEqual([obs.B1.id]);
    await deleteExport(status, manifest);
  });
});

describe('_since', () => {
  it('exports only resources changed after _since (their versions as of the transaction time)', async () => {
    await new Promise((r) => setTimeout(r, 30));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 30));
    const updated = await http('PUT', `Patient/${C.id}`, { ...C, gender: 'female' });
    expect(updated.status).toBe(200);
    const C2 = await observation(C, 'bp');
    const status = await startExport(`$export?_type=Patient,Observation&_since=${encodeURIComponent(since)}&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Observation?${TAG_Q}`)}`);
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    expect(idsOf(files.get('Patient'))).toEqual([C.id]);
    expect(files.get('Patient')![0].meta.versionId).toBe('2');
    expect(idsOf(files.get('Observation'))).toEqual([C2.id]);
    await deleteExport(status, manifest);
  });
});

describe('CapabilityStatement', () => {
  it('instantiates the Bulk Data capability statement and declares $export at each level', async () => {
    const cs = (await http('GET', 'metadata')).body;
    expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    const rest = cs.rest[0];
    const documented = (definition: string) => ({ name: 'export', definition, documentation: expect.stringContaining('Supported parameters: _outputFormat, _since, _type') });
    expect(rest.operation).toContainEqual(documented('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export'));
    const opsOf = (type: string) => rest.resource.find((r: any) => r.type === type).operation;
    expect(opsOf('Patient')).toContainEqual(documented('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export'));
    expect(opsOf('Group')).toContainEqual(documented('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export'));
  });
});

describe('ownership', () => {
  /** The answers of another principal to the status URL, every file of the manifest and DELETE: 403 each. */
  async function refusedTo(headers: Record<string, string>, status: string, manifest: Manifest): Promise<void> {
    const tries: [string, string][] = [['GET', status], ...manifest.output.map((o): [string, string] => ['GET', o.url]), ['DELETE', status]];
    for (const [method, url] of tries) {
      const res = await fetch(url, { method, headers });
      const body = await res.json();
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(body.resourceType).toBe('OperationOutcome');
      expect(body.issue[0].code).toBe('forbidden');
    }
  }

  it('a second client cannot poll, download or cancel the export of the first; the first can', async () => {
    const [one, two] = await Promise.all([backendService('system/*.read'), backendService('system/*.read')]);
    const status = await startExport(`$export?_type=Patient,Observation&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}&_typeFilter=${encodeURIComponent(`Observation?${TAG_Q}`)}`, { headers: one.headers });
    const { manifest } = await waitForManifest(status, 60_000, one.headers);
    expect(manifest.output.length).toBe(2);
    await refusedTo(two.headers, status, manifest);
    // the run's bootstrap client has system/*.* and is still another client
    await refusedTo({}, status, manifest);
    // no token at all: 401
    const anonymous = await globalThis.fetch(status);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    // nothing was cancelled by the refused DELETEs: the first client gets everything, then ends the export
    const files = await downloadAll(manifest, one.headers);
    expect(idsOf(files.get('Patient'))).toEqual(idsOf([A, B, C]));
    expect(idsOf(files.get('Observation'))).toEqual(expect.arrayContaining(idsOf(Object.values(obs)))); // (and C's from the _since test)
    await deleteExport(status, manifest, one.headers);
  });

  it('users of one app: another user of the same app cannot see the export of the first', async () => {
    // clinicians of consent-support share one public app (one client id) and have user/*.cruds tokens
    const [first, second] = await Promise.all([clinician('ExportOwner'), clinician('ExportOther')]);
    const status = await startExport(`Patient/$export?_type=Patient&_typeFilter=${encodeURIComponent(`Patient?${TAG_Q}`)}`, { headers: first.headers });
    const { manifest } = await waitForManifest(status, 60_000, first.headers);
    await refusedTo(second.headers, status, manifest);
    await downloadAll(manifest, first.headers); // (what the export holds is consent's business: bulk-consent.test.ts)
    // an $import cannot name another user's files either
    const imp = await fetch(`${fhirBase()}/$import`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', prefer: 'respond-async', ...second.headers },
      body: JSON.stringify(importParameters([{ url: manifest.output[0].url }])),
    });
    expect(imp.status).toBe(403);
    expect((await imp.json()).issue[0].diagnostics).toContain('belongs to another client or user');
    await deleteExport(status, manifest, first.headers);
  });
});
