import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub.js';
import type { BulkConfig } from '../../src/modules/bulk/bulk-config.js';
import { Db } from '../../src/modules/database/db.js';
import { downloadAll, idsOf, startExport, waitForManifest } from './bulk-support.js';
import { freePort } from '../support/ports.js';

/**
 * A hub of its own (own data folder, own embedded PostgreSQL) with a slowed-down export (small batches, a pause
 * after each): the hub is shut down in the middle of an export and started again on the same data folder; the job
 * must resume and complete without rewriting the files finished before, hold every resource once, and be the
 * snapshot as of its transaction time (writes made after the kick-off do not show).
 */

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-bulk-restart-'));
let hub: Hub | undefined;
let second: Hub | undefined;
let pgPort = 0;

async function start(bulk: Partial<BulkConfig>, pgPort: number): Promise<Hub> {
  hub = await startHub({ port: 0, host: '127.0.0.1', dataDir, embeddedPgPort: pgPort, logLevel: 'warn', fhirBaseUrl: 'http://127.0.0.1:0/fhir', bulk, authEnabled: false }); // job mechanics; authorization has its own tests
  return hub;
}

afterAll(async () => {
  await second?.close();
  await hub?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

const SLOW: Partial<BulkConfig> = { batchSize: 5, batchDelayMs: 120, maxFileBytes: 1500, pollMs: 100 };
const N = 60;

describe('bulk export jobs on a hub of their own: restart, several processes, ownership', () => {
  it('resumes after a restart, keeps finished files, holds each resource once, as of the transaction time', async () => {
    pgPort = await freePort();
    let h = await start(SLOW, pgPort);
    let base = h.config.fhirBaseUrl;
    const headers = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };

    // N patients with one Observation each, in one transaction
    const entry: any[] = [];
    for (let i = 0; i < N; i++) {
      entry.push({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resource: { resourceType: 'Patient', name: [{ family: `Restart${i}`, given: ['Bulk', 'Export', 'Test'] }], birthDate: '1970-01-01' }, request: { method: 'POST', url: 'Patient' } });
      entry.push({ resource: { resourceType: 'Observation', status: 'final', code: { text: `restart observation ${i}` }, subject: { reference: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } }, request: { method: 'POST', url: 'Observation' } });
    }
    const tx = await fetch(base, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    const txBody = await json(tx);
    expect(tx.status, JSON.stringify(txBody).slice(0, 500)).toBe(200);
    const locations: string[] = txBody.entry.map((e: any) => e.response.location.split('/_history')[0]);
    const patientIds = locations.filter((l) => l.startsWith('Patient/')).map((l) => l.split('/')[1]);
    const observationIds = locations.filter((l) => l.startsWith('Observation/')).map((l) => l.split('/')[1]);

    const status = await startExport('$export?_type=Patient,Observation', { base });
    const jobId = status.split('/').pop()!;
    // writes after the kick-off: not in the export (snapshot as of transactionTime)
    const p0 = await json(await fetch(`${base}/Patient/${patientIds[0]}`));
    expect((await fetch(`${base}/Patient/${patientIds[0]}`, { method: 'PUT', headers, body: JSON.stringify({ ...p0, gender: 'male' }) })).status).toBe(200);
    expect((await fetch(`${base}/Patient/${patientIds[1]}`, { method: 'DELETE' })).status).toBe(204);
    const late = await json(await fetch(`${base}/Patient`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'TooLate' }] }) }));

    // wait until a few Patient files are finished, then note them and shut the hub down mid-export
    let progress = '';
    for (;;) {
      const res = await fetch(status);
      expect(res.status).toBe(202);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      progress = res.headers.get('x-progress') ?? '';
      await res.arrayBuffer();
      if (Number.parseInt(progress, 10) >= 50) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const jobDir = path.join(dataDir, 'bulk', jobId);
    const partsNow = fs.readdirSync(jobDir).filter((f) => f.startsWith('Patient-')).sort((a, b) => Number.parseInt(a.split('-')[1]) - Number.parseInt(b.split('-')[1]));
    const finished = partsNow.slice(0, -1); // the last one is still being written
    expect(finished.length).toBeGreaterThanOrEqual(2);
    const before = new Map(finished.map((f) => [f, fs.statSync(path.join(jobDir, f))]));
    await h.close();
    hub = undefined;
    expect(Number.parseInt(progress, 10)).toBeLessThan(2 * N); // it really was interrupted

    h = await start({ ...SLOW, batchDelayMs: 40, retentionSeconds: 8 }, pgPort);
    base = h.config.fhirBaseUrl;
    const status2 = `${base}/_bulk/export/${jobId}`;
    const { manifest } = await waitForManifest(status2);
    const files = await downloadAll(manifest);

    // every resource as of the kick-off, once (the MPI's golden Patients of these people are exported too)
    const golden = (p: any) => p.meta?.tag?.some((t: any) => t.system === 'http://hie-hub.dev/mpi' && t.code === 'golden');
    expect(idsOf(files.get('Patient')!.filter((p) => !golden(p)))).toEqual([...patientIds].sort());
    expect(idsOf(files.get('Observation'))).toEqual([...observationIds].sort());
    expect(files.get('Patient')!.find((p) => p.id === patientIds[0]).meta.versionId).toBe('1');
    expect(files.get('Patient')!.some((p) => p.id === late.id)).toBe(false);
    // split by size, counted in the manifest
    const patientFiles = manifest.output.filter((o) => o.type === 'Patient');
    expect(patientFiles.length).toBeGreaterThan(finished.length);
    expect(patientFiles.reduce((n, o) => n + o.count, 0)).toBe(files.get('Patient')!.length);
    // a file ends at the first line past the limit; a single line (a golden Patient with every source's names) may exceed it
    for (const f of fs.readdirSync(jobDir)) {
      const text = fs.readFileSync(path.join(jobDir, f), 'utf8');
      if (text.trimEnd().split('\n').length > 1) expect(text.length - text.trimEnd().split('\n').at(-1)!.length, f).toBeLessThanOrEqual(1500);
    }
    // files finished before the restart were not rewritten
    for (const [f, st] of before) {
      const now = fs.statSync(path.join(jobDir, f));
      expect({ f, ino: now.ino, mtime: now.mtimeMs, size: now.size }).toEqual({ f, ino: st.ino, mtime: st.mtimeMs, size: st.size });
    }

    // retention: after it, the job and its files are gone
    const end = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(status2);
      await res.arrayBuffer();
      if (res.status === 404) break;
      expect(res.status).toBe(200);
      if (Date.now() > end) throw new Error('files not deleted after their retention');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(fs.existsSync(jobDir)).toBe(false);
  });

  it('runs on any of several hub processes sharing the database and the bulk folder', async () => {
    expect(hub).toBeDefined();
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-bulk-second-'));
    try {
      second = await startHub({
        port: 0,
        host: '127.0.0.1',
        dataDir: otherDir,
        databaseUrl: `postgres://hub:hub@127.0.0.1:${pgPort}/hub`,
        logLevel: 'warn',
        authEnabled: false,
        fhirBaseUrl: 'http://127.0.0.1:0/fhir',
        bulk: { ...SLOW, batchDelayMs: 0, dir: path.join(dataDir, 'bulk') },
      });
      // kicked off at the second process, polled and downloaded at the first
      const status = await startExport('$export?_type=Observation', { base: second.config.fhirBaseUrl });
      const atFirst = `${hub!.config.fhirBaseUrl}/_bulk/export/${status.split('/').pop()}`;
      const { manifest } = await waitForManifest(atFirst);
      expect(manifest.output.every((o) => o.url.startsWith(hub!.config.fhirBaseUrl))).toBe(true);
      const files = await downloadAll(manifest);
      expect(files.get('Observation')).toHaveLength(N);
    } finally {
      await second?.close();
      second = undefined;
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('serves a job only to the client that started it (a job owned by another client id: 403 everywhere)', async () => {
    const h = hub!;
    const status = await startExport('$export?_type=Patient', { base: h.config.fhirBaseUrl });
    const jobId = status.split('/').pop()!;
    const { manifest } = await waitForManifest(status);
    // the development principal has no client id; make the job another client's, as a second client would see it
    const db = h.app.get(Db);
    await db.query(`UPDATE bulk_job SET client_id = 'another-client' WHERE id = $1`, [jobId]);
    for (const [method, url] of [['GET', status], ['GET', manifest.output[0].url], ['DELETE', status]]) {
      const res = await fetch(url, { method });
      const body = await res.json();
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(body.issue[0].code).toBe('forbidden');
    }
    // an $import may not name another client's files either
    const imp = await fetch(`${h.config.fhirBaseUrl}/$import`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', prefer: 'respond-async' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'url', valueUri: manifest.output[0].url }] }] }),
    });
    expect(imp.status).toBe(403);
    await imp.arrayBuffer();
    await db.query(`UPDATE bulk_job SET client_id = NULL WHERE id = $1`, [jobId]);
    expect((await fetch(manifest.output[0].url)).status).toBe(200);
    expect((await fetch(status, { method: 'DELETE' })).status).toBe(202);
  });

  it('cancels a running export: DELETE 202, then 404, and the job stops and its files go', async () => {
    const h = hub!;
    const status = await startExport('$export?_type=Patient,Observation', { base: h.config.fhirBaseUrl });
    const jobDir = path.join(dataDir, 'bulk', status.split('/').pop()!);
    for (;;) {
      const res = await fetch(status);
      expect(res.status).toBe(202);
      const progress = Number.parseInt(res.headers.get('x-progress') ?? '', 10);
      await res.arrayBuffer();
      if (progress > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const del = await fetch(status, { method: 'DELETE' });
    expect(del.status).toBe(202);
    await del.arrayBuffer();
    const after = await fetch(status);
    expect(after.status).toBe(404);
    expect((await after.json()).resourceType).toBe('OperationOutcome');
    // the runner notices at its next checkpoint and deletes what it wrote since
    await new Promise((r) => setTimeout(r, 500));
    expect(fs.existsSync(jobDir)).toBe(false);
  });
  it('an export with includeAssociatedData resumes its Provenance pass after a restart: each Provenance once', async () => {
    let h = hub!;
    let base = h.config.fhirBaseUrl;
    const headers = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
    const tag = `assoc-${Date.now()}`;
    const M = 40;
    const entry: any[] = [];
    for (let i = 0; i < M; i++) {
      const fullUrl = `urn:uuid:00000000-0000-4000-9000-${String(i).padStart(12, '0')}`;
      entry.push({ fullUrl, resource: { resourceType: 'Observation', meta: { tag: [{ system: 'urn:test', code: tag }] }, status: 'final', code: { text: `associated ${i}` } }, request: { method: 'POST', url: 'Observation' } });
      entry.push({ resource: { resourceType: 'Provenance', target: [{ reference: fullUrl }], recorded: '2025-01-01T00:00:00Z', agent: [{ who: { display: 'restart test' } }] }, request: { method: 'POST', url: 'Provenance' } });
    }
    const tx = await json(await fetch(base, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) }));
    const provenanceIds = tx.entry.map((e: any) => e.response.location).filter((l: string) => l.startsWith('Provenance/')).map((l: string) => l.split('/')[1]);
    expect(provenanceIds).toHaveLength(M);

    await h.close();
    hub = undefined;
    h = await start({ ...SLOW, batchDelayMs: 250 }, pgPort); // 8 batches of 5 Provenance: a 2 s window to stop in
    base = h.config.fhirBaseUrl;
    const status = await startExport(`$export?_type=Observation&_typeFilter=${encodeURIComponent(`Observation?_tag=urn:test|${tag}`)}&includeAssociatedData=RelevantProvenanceResources`, { base });
    const jobId = status.split('/').pop()!;
    // stop in the middle of the Provenance pass (it shows once its first batch is checkpointed, after the M Observations)
    for (;;) {
      const res = await fetch(status);
      const progress = res.headers.get('x-progress') ?? '';
      await res.arrayBuffer();
      expect(res.status, 'the export finished before it could be interrupted').toBe(202);
      if (progress.includes('writing associated Provenance')) {
        expect(Number.parseInt(progress, 10)).toBeGreaterThan(M);
        break;
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    await h.close();
    hub = undefined;
    h = await start({ ...SLOW, batchDelayMs: 0 }, pgPort);
    const { manifest } = await waitForManifest(`${h.config.fhirBaseUrl}/_bulk/export/${jobId}`);
    const files = await downloadAll(manifest);
    expect(files.get('Observation')).toHaveLength(M);
    const written = files.get('Provenance')!.map((p) => p.id).sort();
    expect(written).toEqual([...provenanceIds].sort()); // every one, none twice
    expect(manifest.output.filter((o) => o.type === 'Provenance').reduce((n, o) => n + o.count, 0)).toBe(M);
  });
});
