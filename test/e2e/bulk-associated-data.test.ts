import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { backendService } from './auth-support.js';
import { deleteExport, downloadAll, idsOf, kickOff, startExport, waitForManifest, type Manifest } from './bulk-support.js';
import { actor, clinician, consent, create as createAsSystem } from './consent-support.js';

/**
 * `$export?includeAssociatedData=` (Bulk Data 2.0): RelevantProvenanceResources adds every Provenance whose target
 * is an exported resource, LatestProvenanceResources the one recorded last per exported resource; both are written
 * once each, in Provenance files after the others, within what the requester may see. Other values: 400, or
 * ignored with a warning under `Prefer: handling=lenient`.
 */
const RUN = `assoc-${randomUUID().slice(0, 8)}`;
const TAG = { system: 'urn:test:bulk-associated', code: RUN };
const filter = (type: string) => `_typeFilter=${encodeURIComponent(`${type}?_tag=${TAG.system}|${RUN}`)}`;
const RELEVANT = 'includeAssociatedData=RelevantProvenanceResources';
const LATEST = 'includeAssociatedData=LatestProvenanceResources';

const create = (r: any) => createAsSystem({ ...r, meta: { tag: [TAG] } });
let A: string, B: string, C: string;
const o: Record<string, string> = {};
const pv: Record<string, string> = {};

const provenance = (targets: string[], recorded: string) =>
  create({ resourceType: 'Provenance', target: targets.map((reference) => ({ reference })), recorded, agent: [{ who: { display: `bulk test ${RUN}` } }] });

async function exportFiles(path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ manifest: Manifest; files: Map<string, any[]> }> {
  const status = await startExport(path, opts);
  const { manifest } = await waitForManifest(status, 60_000, opts.headers);
  const files = await downloadAll(manifest, opts.headers);
  await deleteExport(status, manifest, opts.headers);
  return { manifest, files };
}

/** Provenance ids of an export, each as often as it was written (so duplicates show). */
const provenanceIds = (files: Map<string, any[]>) => (files.get('Provenance') ?? []).map((p) => p.id).sort();
const sorted = (...ids: string[]) => [...ids].sort();

beforeAll(async () => {
  // one at a time, with names of their own (the MPI links look-alike patients created at once: 409 conflicts)
  const patient = (given: string) => create({ resourceType: 'Patient', name: [{ family: RUN, given: [given] }] });
  A = await patient('Alpha');
  B = await patient('Beta');
  C = await patient('Gamma');
  const obs = (p: string, text: string) => create({ resourceType: 'Observation', status: 'final', code: { text }, subject: { reference: `Patient/${p}` } });
  o.A1 = await obs(A, 'a1');
  o.A2 = await obs(A, 'a2');
  o.B1 = await obs(B, 'b1');
  o.C1 = await obs(C, 'c1'); // never exported below
  pv.A1old = await provenance([`Observation/${o.A1}`], '2024-01-01T00:00:00Z');
  pv.A1new = await provenance([`Observation/${o.A1}`], '2025-01-01T00:00:00Z'); // latest of A1
  pv.A2B1 = await provenance([`Observation/${o.A2}`, `Observation/${o.B1}`], '2024-06-01T00:00:00Z'); // latest of A2 and B1
  pv.B1old = await provenance([`Observation/${o.B1}`], '2023-01-01T00:00:00Z');
  pv.patientA = await provenance([`Patient/${A}`], '2023-05-01T00:00:00Z'); // in A's compartment
  pv.B1andA = await provenance([`Observation/${o.B1}`, `Patient/${A}`], '2022-01-01T00:00:00Z'); // B1's, and in A's compartment
  pv.C1 = await provenance([`Observation/${o.C1}`], '2025-01-01T00:00:00Z');
});

describe('includeAssociatedData', () => {
  it('RelevantProvenanceResources: every Provenance of an exported resource, once, in Provenance files after the others', async () => {
    const { manifest, files } = await exportFiles(`$export?_type=Observation&${filter('Observation')}&${RELEVANT}`);
    expect(manifest.output.map((f) => f.type)).toEqual(['Observation', 'Provenance']);
    expect(idsOf(files.get('Observation'))).toEqual(sorted(o.A1, o.A2, o.B1, o.C1));
    expect(provenanceIds(files)).toEqual(sorted(pv.A1old, pv.A1new, pv.A2B1, pv.B1old, pv.B1andA, pv.C1));
    expect(files.get('Provenance')!.find((p) => p.id === pv.A2B1).target).toEqual([{ reference: `Observation/${o.A2}` }, { reference: `Observation/${o.B1}` }]);
    // without the parameter, no Provenance
    const plain = await exportFiles(`$export?_type=Observation&${filter('Observation')}`);
    expect(plain.manifest.output.map((f) => f.type)).toEqual(['Observation']);
  });

  it('LatestProvenanceResources: per exported resource the Provenance recorded last', async () => {
    const { files } = await exportFiles(`$export?_type=Patient,Observation&${filter('Patient')}&${filter('Observation')}&${LATEST}`);
    expect(provenanceIds(files)).toEqual(sorted(pv.A1new, pv.A2B1, pv.patientA, pv.C1));
  });

  it('both values: the least restrictive one (Relevant) applies; repeated and comma-separated alike', async () => {
    const { files } = await exportFiles(`$export?_type=Observation&${filter('Observation')}&includeAssociatedData=LatestProvenanceResources,RelevantProvenanceResources`);
    expect(provenanceIds(files)).toEqual(sorted(pv.A1old, pv.A1new, pv.A2B1, pv.B1old, pv.B1andA, pv.C1));
    const repeated = await exportFiles(`$export?_type=Observation&${filter('Observation')}&${LATEST}&${RELEVANT}`);
    expect(provenanceIds(repeated.files)).toEqual(provenanceIds(files));
  });

  it('follows the cohort: a patient-level export of B holds the Provenance of B’s resources only', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient,Observation' },
        { name: 'patient', valueReference: { reference: `Patient/${B}` } },
        { name: 'includeAssociatedData', valueCode: 'RelevantProvenanceResources' },
      ],
    };
    const { files } = await exportFiles('Patient/$export', { body });
    expect(idsOf(files.get('Observation'))).toEqual([o.B1]);
    expect(provenanceIds(files)).toEqual(sorted(pv.A2B1, pv.B1old, pv.B1andA));
  });

  it('with Provenance among the types too: each Provenance written once, the associated ones in files after the type’s', async () => {
    const group = await create({ resourceType: 'Group', type: 'person', actual: true, member: [A, B].map((p) => ({ entity: { reference: `Patient/${p}` } })) });
    const { manifest, files } = await exportFiles(`Group/${group}/$export?_type=Patient,Observation,Provenance&${RELEVANT}`);
    // the type holds what is in A's or B's compartment (Provenance.target a Patient); the rest comes associated
    const provenanceFiles = manifest.output.filter((f) => f.type === 'Provenance');
    expect(provenanceFiles.map((f) => f.url.split('/').pop())).toEqual(['Provenance-1.ndjson', 'Provenance-2.ndjson']);
    expect(provenanceFiles.map((f) => f.count)).toEqual([2, 4]); // patientA, B1andA | A1old, A1new, A2B1, B1old
    expect(provenanceIds(files)).toEqual(sorted(pv.A1old, pv.A1new, pv.A2B1, pv.B1old, pv.patientA, pv.B1andA));
  });

  it('within what the requester may see: consent hides a patient’s resources and the Provenance in their compartment', async () => {
    const X = await clinician('AssociatedExporter');
    const denial = await createAsSystem(consent(A, { type: 'permit', provision: [{ type: 'deny', actor: [actor(X.practitioner)] }] }));
    try {
      const { files } = await exportFiles(`Patient/$export?_type=Observation&${filter('Observation')}&${RELEVANT}`, { headers: X.headers });
      expect(idsOf(files.get('Observation'))).toEqual(sorted(o.B1, o.C1));
      // B1andA is B1's, but also in A's compartment: hidden; A2B1 (in nobody's compartment) comes with B1
      expect(provenanceIds(files)).toEqual(sorted(pv.A2B1, pv.B1old, pv.C1));
    } finally {
      expect((await http('DELETE', `Consent/${denial}`)).status).toBe(204);
    }
  });

  it('needs read access to Provenance', async () => {
    const narrow = await backendService('system/Patient.rs system/Observation.rs');
    const path = `Patient/$export?_type=Observation&${filter('Observation')}`;
    const refused = await kickOff(`${path}&${RELEVANT}`, { headers: narrow.headers });
    expect(refused.status).toBe(403);
    expect((await refused.json()).issue[0].diagnostics).toContain('Provenance');
    const without = await startExport(path, { headers: narrow.headers });
    await deleteExport(without, undefined, narrow.headers);
  });

  it('refuses values it does not support (400), unless Prefer: handling=lenient (ignored, with a warning)', async () => {
    for (const value of ['_custom', 'Nonsense', 'Nonsense,RelevantProvenanceResources', '']) {
      for (const prefer of ['respond-async', 'respond-async, handling=strict']) {
        const res = await kickOff(`$export?_type=Observation&includeAssociatedData=${encodeURIComponent(value)}`, { headers: { prefer } });
        const body = await res.json();
        if (value === '') {
          // an empty value asks for nothing
          expect(res.status, prefer).toBe(202);
          await deleteExport(res.headers.get('content-location')!);
          continue;
        }
        expect(res.status, `${value} ${prefer}`).toBe(400);
        expect(body.resourceType).toBe('OperationOutcome');
        expect(body.issue[0].code).toBe('not-supported');
        expect(body.issue[0].diagnostics).toContain('RelevantProvenanceResources');
      }
    }
    const res = await kickOff(`$export?_type=Observation&${filter('Observation')}&includeAssociatedData=Nonsense,RelevantProvenanceResources`, {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    expect(res.status).toBe(202);
    const body = await res.json();
    expect(body.issue.map((i: any) => i.severity)).toEqual(['information', 'warning']);
    expect(body.issue[1].diagnostics).toContain("'Nonsense'");
    const status = res.headers.get('content-location')!;
    const { manifest } = await waitForManifest(status);
    const files = await downloadAll(manifest);
    expect(provenanceIds(files)).toContain(pv.A2B1); // the supported value was applied
    await deleteExport(status, manifest);
  });

  it('is declared on $export in the CapabilityStatement', async () => {
    const cs = (await http('GET', 'metadata')).body;
    const exports = [cs.rest[0].operation, ...cs.rest[0].resource.filter((r: any) => r.type === 'Patient' || r.type === 'Group').map((r: any) => r.operation)]
      .map((ops: any[]) => ops.find((op) => op.name === 'export'));
    expect(exports).toHaveLength(3);
    for (const op of exports) {
      expect(op.documentation).toContain('includeAssociatedData: LatestProvenanceResources, RelevantProvenanceResources');
    }
  });
});
