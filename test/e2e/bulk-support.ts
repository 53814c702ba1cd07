import { expect } from 'vitest';
import { authHeader, fhirBase } from '../support/hub.js';

/**
 * fetch with the run's system token (the bulk endpoints need a bearer token like every FHIR request); an
 * `authorization` in init.headers replaces it (another client's token).
 */
export const fetch = (url: string | URL, init: RequestInit = {}) => globalThis.fetch(url, { ...init, headers: { ...authHeader(), ...((init.headers as Record<string, string>) ?? {}) } });

/** Bulk data client helpers: kick-off, poll, download, over plain HTTP (against the shared hub or a base given). */
export const ASYNC = { accept: 'application/fhir+json', prefer: 'respond-async' };

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

export async function kickOff(path: string, opts: { body?: unknown; headers?: Record<string, string>; base?: string } = {}): Promise<Response> {
  const url = `${opts.base ?? fhirBase()}/${path}`;
  const headers: Record<string, string> = { ...ASYNC, ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/fhir+json';
  return fetch(url, { method: opts.body === undefined ? 'GET' : 'POST', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
}

/** Kicks off and returns the status URL (asserting the 202). */
export async function startExport(path: string, opts: { body?: unknown; headers?: Record<string, string>; base?: string } = {}): Promise<string> {
  const res = await kickOff(path, opts);
  const text = await res.text();
  expect(res.status, text).toBe(202);
  const loc = res.headers.get('content-location');
  expect(loc).toMatch(/\/_bulk\/export\/[0-9a-f-]{36}$/);
  return loc!;
}

/** Polls until the manifest (with the run's system token, or `headers`); every 202 on the way carries X-Progress and Retry-After. */
export async function waitForManifest(statusUrl: string, timeoutMs = 60_000, headers: Record<string, string> = {}): Promise<{ manifest: Manifest; polls202: number }> {
  const end = Date.now() + timeoutMs;
  let polls202 = 0;
  for (;;) {
    const res = await fetch(statusUrl, { headers: { accept: 'application/json', ...headers } });
    if (res.status === 202) {
      polls202++;
      expect(res.headers.get('x-progress')).toBeTruthy();
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      await res.arrayBuffer();
      if (Date.now() > end) throw new Error(`export not finished after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const manifest = JSON.parse(text) as Manifest;
    expect(manifest.requiresAccessToken).toBe(true);
    expect(Array.isArray(manifest.error)).toBe(true);
    expect(Date.parse(manifest.transactionTime)).not.toBeNaN();
    return { manifest, polls202 };
  }
}

/** Downloads every output file (with the run's system token, or `headers`); checks media type, that each line parses, carries the file's type, and the counts. */
export async function downloadAll(manifest: Manifest, headers: Record<string, string> = {}): Promise<Map<string, any[]>> {
  const byType = new Map<string, any[]>();
  for (const o of manifest.output) {
    const res = await fetch(o.url, { headers: { accept: 'application/fhir+ndjson', ...headers } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+ndjson/);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines.length).toBe(o.count);
    const resources = lines.map((l) => JSON.parse(l));
    for (const r of resources) expect(r.resourceType).toBe(o.type);
    byType.set(o.type, [...(byType.get(o.type) ?? []), ...resources]);
  }
  return byType;
}

/** The MPI's golden Patients (linked to the sources, so in their compartments) are exported too; tests count sources. */
export const isGolden = (r: any) => r?.meta?.tag?.some((t: any) => t.system === 'http://hie-hub.dev/mpi' && t.code === 'golden');
export const idsOf = (resources: any[] | undefined) => (resources ?? []).filter((r) => !isGolden(r)).map((r) => r.id).sort();

/** Export cycle end: DELETE answers 202, then the status and the files are 404 with an OperationOutcome. */
export async function deleteExport(statusUrl: string, manifest?: Manifest, headers: Record<string, string> = {}): Promise<void> {
  const del = await fetch(statusUrl, { method: 'DELETE', headers });
  expect(del.status).toBe(202);
  await del.arrayBuffer();
  const after = await fetch(statusUrl, { headers });
  expect(after.status).toBe(404);
  expect((await after.json()).resourceType).toBe('OperationOutcome');
  if (manifest?.output[0]) {
    const file = await fetch(manifest.output[0].url, { headers });
    expect(file.status).toBe(404);
    await file.arrayBuffer();
  }
}

/** Uploads NDJSON lines to the hub (`POST [base]/_bulk/files`) for $import; returns the file's URL. */
export async function upload(lines: string[]): Promise<string> {
  const res = await fetch(`${fhirBase()}/_bulk/files`, { method: 'POST', headers: { 'content-type': 'application/fhir+ndjson' }, body: lines.join('\n') });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(res.headers.get('location')).toBe(body.url);
  return body.url;
}

export function importParameters(inputs: { type?: string; url: string }[]): any {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
      ...inputs.map((i) => ({ name: 'input', part: [...(i.type ? [{ name: 'type', valueCode: i.type }] : []), { name: 'url', valueUri: i.url }] })),
    ],
  };
}

/** $import of these inputs, polled to its manifest (every 202 on the way carries X-Progress). */
export async function runImport(inputs: { type?: string; url: string }[]): Promise<{ status: string; manifest: any }> {
  const res = await fetch(`${fhirBase()}/$import`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', prefer: 'respond-async' },
    body: JSON.stringify(importParameters(inputs)),
  });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  const status = res.headers.get('content-location')!;
  expect(status).toMatch(/\/_bulk\/import\/[0-9a-f-]{36}$/);
  for (const end = Date.now() + 60_000; ; ) {
    const s = await fetch(status);
    if (s.status === 200) return { status, manifest: await s.json() };
    expect(s.status).toBe(202);
    expect(s.headers.get('x-progress')).toBeTruthy();
    await s.arrayBuffer();
    if (Date.now() > end) throw new Error('import did not finish');
    await new Promise((r) => setTimeout(r, 100));
  }
}
