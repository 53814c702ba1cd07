import { GOLDEN_RECORD_TAG } from '../fhir/search/extract/managed-records.js';

/** A source Patient as survivorship sees it: its content and when it was last written. */
export interface SourceRecord {
  id: string;
  resource: any;
  lastUpdated: string;
}

const filled = (x: unknown): number =>
  x === undefined || x === null || x === '' ? 0 : Array.isArray(x) ? x.reduce((n: number, v) => n + filled(v), 0) : typeof x === 'object' ? Object.values(x as object).reduce((n: number, v) => n + filled(v), 0) : 1;

/** Most complete element (most filled leaves), ties to the most recently written source. */
function mostComplete<T>(sources: SourceRecord[], pick: (r: any) => T | undefined): T | undefined {
  let best: T | undefined;
  let bestScore = 0;
  for (const s of sources) {
    const v = pick(s.resource);
    const score = filled(v);
    if (score > bestScore || (score === bestScore && score > 0)) {
      best = v;
      bestScore = score;
    }
  }
  return best;
}

/** The value most sources agree on, ties to the most recent source. */
function mostCommon<T>(sources: SourceRecord[], pick: (r: any) => T | undefined): T | undefined {
  const counts = new Map<string, { v: T; n: number }>();
  for (const s of sources) {
    const v = pick(s.resource);
    if (v === undefined || v === null) continue;
    const key = JSON.stringify(v);
    const c = counts.get(key) ?? { v, n: 0 };
    c.n++;
    counts.set(key, c);
  }
  let best: { v: T; n: number } | undefined;
  for (const c of counts.values()) if (!best || c.n >= best.n) best = c;
  return best?.v;
}

/**
 * Survivorship: the golden Patient of one person from its source records (oldest write first) —
 * the most complete official name and address, the most recent contact details (telecom), birth date and gender
 * most sources agree on, and every identifier of every source. `Patient.link` points at every source (`seealso`:
 * the sources stay valid records of the same person) and at merged golden records (`replaces`).
 */
export function buildGoldenRecord(id: string, sources: SourceRecord[], replaces: string[] = []): any {
  const ordered = [...sources].sort((a, b) => a.lastUpdated.localeCompare(b.lastUpdated) || a.id.localeCompare(b.id));
  const golden: any = { resourceType: 'Patient', id, meta: { tag: [{ ...GOLDEN_RECORD_TAG, display: 'MPI golden record' }] }, active: true };
  const identifiers = new Map<string, any>();
  for (const s of ordered) {
    for (const i of s.resource.identifier ?? []) {
      if (!i?.value) continue;
      identifiers.set(`${i.system ?? ''}|${i.value}`, i);
    }
  }
  if (identifiers.size) golden.identifier = [...identifiers.values()];
  const name = mostComplete(ordered, (r) => (r.name ?? []).find((n: any) => n.use === 'official' || !n.use || n.use === 'usual') ?? r.name?.[0]);
  if (name) golden.name = [name];
  const telecom = [...ordered].reverse().find((s) => s.resource.telecom?.length)?.resource.telecom;
  if (telecom) golden.telecom = telecom;
  const gender = mostCommon(ordered, (r) => r.gender);
  if (gender) golden.gender = gender;
  const birthDate = mostCommon(ordered, (r) => r.birthDate);
  if (birthDate) golden.birthDate = birthDate;
  const address = mostComplete(ordered, (r) => (r.address ?? []).find((a: any) => a.use !== 'old') ?? r.address?.[0]);
  if (address) golden.address = [address];
  const link = [
    ...ordered.map((s) => ({ other: { reference: `Patient/${s.id}` }, type: 'seealso' })),
    ...[...replaces].sort().map((g) => ({ other: { reference: `Patient/${g}` }, type: 'replaces' })),
  ];
  if (link.length) golden.link = link;
  return golden;
}

/** A golden record retired by a merge: inactive, `replaced-by` the surviving golden record. */
export function redirectedGoldenRecord(id: string, winnerId: string): any {
  return {
    resourceType: 'Patient',
    id,
    meta: { tag: [{ ...GOLDEN_RECORD_TAG, display: 'MPI golden record' }] },
    active: false,
    link: [{ other: { reference: `Patient/${winnerId}` }, type: 'replaced-by' }],
  };
}

/** Content equality ignoring meta.versionId/lastUpdated (so unchanged golden records are not rewritten). */
export function sameContent(a: any, b: any): boolean {
  const strip = (r: any) => ({ ...r, meta: { tag: r?.meta?.tag } });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
