import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { http } from '../support/hub.js';

/** A fresh X-Request-Id, so a test finds the records of its own requests among everyone's. */
export const requestId = (tag = 'audit') => `${tag}-${randomUUID()}`;

/** Every AuditEvent recorded for these request ids (all pages), oldest first. */
export async function recordsOf(ids: string[], base?: string): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < ids.length; i += 80) {
    let url: string | undefined = `${base ? `${base}/` : ''}AuditEvent?request-id=${ids.slice(i, i + 80).join(',')}&_count=1000&_sort=date`;
    while (url) {
      const res: any = await http('GET', url);
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      out.push(...(res.body.entry ?? []).map((e: any) => e.resource));
      url = res.body.link.find((l: any) => l.relation === 'next')?.url;
    }
  }
  return out;
}

export const requestIdOf = (e: any): string | undefined => e.entity?.find((x: any) => x.type?.code === 'XrequestId')?.what?.identifier?.value;
export const subtypeOf = (e: any): string => e.subtype?.[0]?.code;
export const refsOf = (e: any): string[] => (e.entity ?? []).map((x: any) => x.what?.reference).filter(Boolean);
export const patientsOf = (e: any): string[] => (e.entity ?? []).filter((x: any) => x.role?.code === '1').map((x: any) => x.what.reference);

/** Parameters → { name: [values] } (parts as nested objects). */
export function params(p: any): Record<string, any[]> {
  const out: Record<string, any[]> = {};
  for (const x of p.parameter ?? []) {
    const v = x.part ? params({ parameter: x.part }) : Object.entries(x).find(([k]) => k.startsWith('value'))?.[1];
    (out[x.name] ??= []).push(v);
  }
  return out;
}
