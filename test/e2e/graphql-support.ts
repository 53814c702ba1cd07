import fs from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { fhirBase, http } from '../support/hub.js';

export const CONFORMANCE_DIR = path.resolve(process.cwd(), '../shared/conformance/graphql');
const EXAMPLES_DIR = path.resolve('node_modules/hl7.fhir.r4.examples');

export interface GraphqlResponse {
  status: number;
  body: { data?: any; errors?: { message: string; path?: (string | number)[]; extensions?: any }[]; extensions?: any };
  text: string;
}

/**
 * The run's system token once authentication is merged (global setup provides `systemToken`); none before. Requests
 * send it unless the caller gives its own `authorization` header.
 */
export function authHeaders(): Record<string, string> {
  const token = (inject as (key: string) => unknown)('systemToken');
  return typeof token === 'string' ? { authorization: `Bearer ${token}` } : {};
}

/** One GraphQL request to `[base]/<at>` (`$graphql`, `Patient/1/$graphql`) or to an absolute URL. */
export async function gql(
  at: string,
  query: string,
  opts: { variables?: Record<string, unknown>; operationName?: string; method?: 'GET' | 'POST'; headers?: Record<string, string> } = {},
): Promise<GraphqlResponse> {
  const url = at.startsWith('http') ? at : `${fhirBase()}/${at}`;
  let res: Response;
  if (opts.method === 'GET') {
    const qs = new URLSearchParams({ query });
    if (opts.operationName) qs.set('operationName', opts.operationName);
    if (opts.variables) qs.set('variables', JSON.stringify(opts.variables));
    res = await fetch(`${url}?${qs}`, { headers: { accept: 'application/json', ...authHeaders(), ...opts.headers } });
  } else {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...authHeaders(), ...opts.headers },
      body: JSON.stringify({ query, variables: opts.variables, operationName: opts.operationName }),
    });
  }
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = {};
  }
  return { status: res.status, body, text };
}

/** An official R4 example (npm hl7.fhir.r4.examples), PUT with its own id (idempotent: other test files load them too). */
export async function putExample(file: string): Promise<any> {
  const resource = JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8'));
  const res = await http('PUT', `${resource.resourceType}/${resource.id}`, resource);
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${file}: ${res.status} ${res.text.slice(0, 400)}`);
  return res.body;
}

/** GraphQL answers hold nulls and empty lists for absent elements; the FHIR GraphQL test outputs leave them out. */
export function withoutEmpty(v: any): any {
  if (Array.isArray(v)) return v.map(withoutEmpty);
  if (v && typeof v === 'object') {
    const out: any = {};
    for (const [k, x] of Object.entries(v)) {
      const c = withoutEmpty(x);
      if (c === null || c === undefined || (Array.isArray(c) && c.length === 0)) continue;
      out[k] = c;
    }
    return out;
  }
  return v;
}
