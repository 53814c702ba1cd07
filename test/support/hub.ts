import { inject } from 'vitest';

/** Absolute FHIR base of the hub the test run started, e.g. http://127.0.0.1:40123/fhir */
export const fhirBase = (): string => inject('fhirBase');

export interface FhirResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** The run's `system/*.*` bearer token (bootstrap client), which http() sends unless told otherwise. */
export const systemToken = (): string => inject('systemToken');

/** `Authorization` header with the run's system token, for tests that call fetch or a FHIR client themselves. */
export const authHeader = (): Record<string, string> => ({ authorization: `Bearer ${systemToken()}` });

const REQUEST_TIMEOUT_MS = 50_000;
const SLOW_MS = 10_000;

/**
 * Plain HTTP to the hub (JSON in, JSON out), for tests that check status codes and headers exactly. It sends the
 * run's system token unless `headers` has its own `authorization` (an empty one sends none).
 */
export async function http<T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<FhirResponse<T>> {
  const url = path.startsWith('http') ? path : `${fhirBase()}/${path.replace(/^\//, '')}`;
  const { authorization, ...rest } = headers;
  const auth = authorization === undefined ? `Bearer ${systemToken()}` : authorization;
  const init: RequestInit = { method, headers: { accept: 'application/fhir+json', ...(auth ? { authorization: auth } : {}), ...rest } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/fhir+json';
  }
  // a request that hangs fails with its URL (CI once saw a test time out with no hint of which request hung),
  // and a slow one is reported, so a slow query shows up in the CI log before it becomes a timeout
  const started = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    text = await res.text();
  } catch (e: any) {
    if (e?.name === 'TimeoutError') throw new Error(`${method} ${url}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw e;
  }
  const ms = performance.now() - started;
  if (ms > SLOW_MS) console.warn(`slow request: ${method} ${url} took ${Math.round(ms)} ms (status ${res.status})`);
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Strips server-owned fields so a resource read back can be compared with what was sent. */
export function withoutMeta<T extends Record<string, any>>(r: T): T {
  const { meta, ...rest } = r as any;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta;
    if (Object.keys(clientMeta).length) rest.meta = clientMeta;
  }
  return rest;
}
