import { randomInt } from 'node:crypto';
import { expect } from 'vitest';
import { http } from '../support/hub.js';

/** Letters only (names are compared letters-only), unique enough that no other test's Patients resemble ours. */
export function uniqueName(prefix = ''): string {
  const abc = 'bcdfghjklmnpqrstvwxz';
  let s = prefix;
  for (let i = 0; i < 10; i++) s += abc[randomInt(abc.length)];
  return s[0].toUpperCase() + s.slice(1);
}

/** A birth date in 1800–1899 with a random day: no other test's Patients share it (the birth-date blocking key). */
export function uniqueBirthDate(): string {
  return `18${String(randomInt(10, 99))}-${String(randomInt(1, 13)).padStart(2, '0')}-${String(randomInt(1, 29)).padStart(2, '0')}`;
}

export interface PersonSpec {
  given?: string;
  family?: string;
  birthDate?: string;
  gender?: string;
  postalCode?: string;
  line?: string;
  identifier?: { system: string; value: string }[];
  phone?: string;
}

export function patient(p: PersonSpec): any {
  const r: any = { resourceType: 'Patient' };
  if (p.identifier) r.identifier = p.identifier;
  if (p.given || p.family) r.name = [{ ...(p.family ? { family: p.family } : {}), ...(p.given ? { given: [p.given] } : {}) }];
  if (p.gender) r.gender = p.gender;
  if (p.birthDate) r.birthDate = p.birthDate;
  if (p.phone) r.telecom = [{ system: 'phone', value: p.phone }];
  if (p.postalCode || p.line) r.address = [{ ...(p.line ? { line: [p.line] } : {}), ...(p.postalCode ? { postalCode: p.postalCode } : {}) }];
  return r;
}

export async function createPatient(p: PersonSpec): Promise<string> {
  const res = await http('POST', 'Patient', patient(p));
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

export interface LinkView {
  source: string;
  golden: string;
  state: string;
  origin: string;
  score?: number;
  comparisons: { name: string; level: string; weight: number }[];
}

const ref = (p: any) => p.valueReference.reference.replace('Patient/', '');

export function parseLinks(parameters: any): LinkView[] {
  return (parameters.parameter ?? []).map((l: any) => {
    const part = (n: string) => l.part.find((p: any) => p.name === n);
    return {
      source: ref(part('source')),
      golden: ref(part('golden')),
      state: part('state').valueCode,
      origin: part('origin').valueCode,
      score: part('score')?.valueDecimal,
      comparisons: l.part
        .filter((p: any) => p.name === 'comparison')
        .map((c: any) => ({ name: c.part[0].valueString, level: c.part[1].valueString, weight: c.part[2].valueDecimal })),
    };
  });
}

/** Every MPI link of a Patient (as source or golden side). */
export async function linksOf(id: string): Promise<LinkView[]> {
  const res = await http('GET', `Patient/$mpi-links?patient=${id}`);
  expect(res.status, res.text).toBe(200);
  return parseLinks(res.body);
}

/** The golden record id a source is MATCHed to. */
export async function goldenOf(id: string): Promise<string> {
  const match = (await linksOf(id)).filter((l) => l.source === id && l.state === 'MATCH');
  expect(match, `MATCH links of ${id}`).toHaveLength(1);
  return match[0].golden;
}

export async function operation(name: string, parameter: any[]): Promise<any> {
  return http('POST', `Patient/$${name}`, { resourceType: 'Parameters', parameter });
}

export const refParam = (name: string, id: string) => ({ name, valueReference: { reference: `Patient/${id}` } });
