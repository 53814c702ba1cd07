import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { deleteExport, downloadAll, idsOf, startExport, waitForManifest } from './bulk-support.js';
import { actor, clinician, consent, create, setPolicy, type Clinician } from './consent-support.js';

/**
 * Patient consent applies to $export as to every search: the consent stage's decision at kick-off travels with the
 * job and is compiled into the export's SQL. Requesters that consent governs are users (practitioners) and clients
 * of an organization; clients cannot be registered with an organization yet (src/modules/auth), so a practitioner's
 * user token (user/*.cruds, a PractitionerRole at Organization X) exports here.
 */
const RUN = `bulk-consent-${randomUUID().slice(0, 8)}`;
const TAG = { system: 'urn:test:bulk-consent', code: RUN };
/** `_type` and a `_typeFilter` per type that keep an export to this file's resources */
const only = (...types: string[]) => `_type=${types.join(',')}&${types.map((t) => `_typeFilter=${encodeURIComponent(`${t}?_tag=${TAG.system}|${RUN}`)}`).join('&')}`;

let orgX: string;
let X: Clinician; // works at Organization X
let Y: Clinician; // no organization, named by no consent
let P1: string; // denies Organization X
let P2: string; // no consent
let P3: string; // denies X's practitioner
const obs: Record<string, string> = {};

const tagged = (r: any) => ({ ...r, meta: { tag: [TAG] } });
const observation = (p: string, text: string) => tagged({ resourceType: 'Observation', status: 'final', code: { text }, subject: { reference: `Patient/${p}` } });

async function exportAs(who: Clinician | undefined, path: string, body?: unknown): Promise<Map<string, any[]>> {
  const headers = who?.headers ?? {};
  const status = await startExport(path, { headers, body });
  const { manifest } = await waitForManifest(status, 60_000, headers);
  const files = await downloadAll(manifest, headers);
  await deleteExport(status, manifest, headers);
  return files;
}

beforeAll(async () => {
  await setPolicy({ base: 'opt-out', hideDenied: false });
  orgX = `Organization/${await create({ resourceType: 'Organization', name: `Clinic X ${RUN}` })}`;
  [X, Y] = await Promise.all([clinician('Exporter', orgX), clinician('Bystander')]);
  // one at a time, with names of their own (the MPI links look-alike patients created at once: 409 conflicts)
  const patient = (given: string) => create(tagged({ resourceType: 'Patient', name: [{ family: RUN, given: [given] }] }));
  P1 = await patient('One');
  P2 = await patient('Two');
  P3 = await patient('Three');
  for (const [k, p] of Object.entries({ P1, P2, P3 })) obs[k] = await create(observation(p, `bulk consent ${k}`));
  await create(consent(P1, { type: 'permit', provision: [{ type: 'deny', actor: [actor(orgX)] }] }));
  await create(consent(P3, { type: 'deny', actor: [actor(X.practitioner)] }));
});

describe('consent in $export', () => {
  it('a practitioner of Organization X does not receive the data of patients whose Consent denies X or them', async () => {
    const files = await exportAs(X, `Patient/$export?${only('Patient', 'Observation')}`);
    expect(idsOf(files.get('Patient'))).toEqual([P2]);
    expect(idsOf(files.get('Observation'))).toEqual([obs.P2]);
  });

  it('the same export by a practitioner the consents do not name, and by the operator client, holds everyone', async () => {
    for (const who of [Y, undefined]) {
      const files = await exportAs(who, `Patient/$export?${only('Patient', 'Observation')}`);
      expect(idsOf(files.get('Patient'))).toEqual([P1, P2, P3].sort());
      expect(idsOf(files.get('Observation'))).toEqual([obs.P1, obs.P2, obs.P3].sort());
    }
  });

  it('group-level and system-level exports are restricted the same way', async () => {
    // the Group is in its members' compartments: one member's denial denies the Group itself, and so its $export
    const mixed = await create(tagged({ resourceType: 'Group', type: 'person', actual: true, member: [P1, P2, P3].map((p) => ({ entity: { reference: `Patient/${p}` } })) }));
    const refused = await http('GET', `Group/${mixed}/$export?_type=Patient`, undefined, { ...X.headers, prefer: 'respond-async' });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].diagnostics).toContain(`of Patient/${P1}`);
    const allowed = await create(tagged({ resourceType: 'Group', type: 'person', actual: true, member: [P2].map((p) => ({ entity: { reference: `Patient/${p}` } })) }));
    const byGroup = await exportAs(X, `Group/${allowed}/$export?_type=Patient,Observation`);
    expect(idsOf(byGroup.get('Patient'))).toEqual([P2]);
    expect(idsOf(byGroup.get('Observation'))).toEqual([obs.P2]);
    // the mixed group is exported whole to a practitioner the consents do not name
    const byY = await exportAs(Y, `Group/${mixed}/$export?_type=Patient`);
    expect(idsOf(byY.get('Patient'))).toEqual([P1, P2, P3].sort());
    const bySystem = await exportAs(X, `$export?${only('Patient', 'Observation')}`);
    expect(idsOf(bySystem.get('Patient'))).toEqual([P2]);
    expect(idsOf(bySystem.get('Observation'))).toEqual([obs.P2]);
    // naming a denied patient does not bring their data back
    const named = await exportAs(X, 'Patient/$export', {
      resourceType: 'Parameters',
      parameter: [{ name: '_type', valueString: 'Patient,Observation' }, { name: 'patient', valueReference: { reference: `Patient/${P1}` } }],
    });
    expect(named.get('Patient')).toBeUndefined();
    expect(named.get('Observation')).toBeUndefined();
  });

  it('what Organization X wrote about a denying patient stays in its exports (ownership)', async () => {
    const written = await http('POST', 'Observation', observation(P1, 'written by X'), X.headers);
    expect(written.status).toBe(201);
    const files = await exportAs(X, `Patient/$export?${only('Observation')}`);
    expect(idsOf(files.get('Observation'))).toEqual([obs.P2, written.body.id].sort());
  });

  it('the export-completed record names the practitioner as well as the app', async () => {
    const status = await startExport(`Patient/$export?${only('Patient')}`, { headers: X.headers });
    await waitForManifest(status, 60_000, X.headers);
    const res = await http('GET', `AuditEvent?entity=urn:uuid:${status.split('/').pop()}&subtype=urn:hie-hub:bulk-data|export-completed`);
    expect(res.body.entry).toHaveLength(1);
    const agents = res.body.entry[0].resource.agent;
    expect(agents.map((a: any) => a.who.reference).filter(Boolean)).toEqual([X.practitioner]);
    expect(agents.some((a: any) => a.who.identifier?.system === 'urn:hie-hub:client-id')).toBe(true);
    await deleteExport(status, undefined, X.headers);
  });
});
