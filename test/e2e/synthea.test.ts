import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';

/**
 * Every Synthea bundle of ../shared/data/synthea (80 patients + hospital + practitioner information) loads as a
 * transaction: one 201 entry per bundle entry, as many resources of each type created as the bundle holds, and the
 * urn:uuid references rewritten to the created resources (checked on a sample of each bundle, by reading them).
 */
const DIR = path.resolve('../shared/data/synthea');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

/** Every `reference` in a resource with its JSON location, e.g. ['subject', 'urn:uuid:...']. */
function references(value: any, at = '', out: [string, string][] = []): [string, string][] {
  if (Array.isArray(value)) value.forEach((v, i) => references(v, `${at}[${i}]`, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push([`${at}.reference`, v]);
      else references(v, `${at}.${k}`, out);
    }
  }
  return out;
}

/** At most `n` bundles in flight: the hub is shared with the other test files. */
function limiter(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
const slot = limiter(3);

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

describe('Synthea transaction bundles', () => {
  it('are all there: 80 patients, hospital and practitioner information', () => {
    expect(FILES).toHaveLength(82);
    expect(FILES.filter((f) => f.startsWith('hospitalInformation'))).toHaveLength(1);
    expect(FILES.filter((f) => f.startsWith('practitionerInformation'))).toHaveLength(1);
  });

  describe.concurrent('load as transactions', () => {
    it.each(FILES)('%s', async (file) => {
      const text = fs.readFileSync(path.join(DIR, file), 'utf8');
      const bundle = JSON.parse(text);
      expect(bundle.type).toBe('transaction');
      const entries: any[] = bundle.entry;
      // every entry is a plain POST (no conditional create in this data set), so every one must create
      expect(entries.every((e) => e.request.method === 'POST' && e.fullUrl.startsWith('urn:uuid:') && !e.request.ifNoneExist)).toBe(true);

      const res = await slot(() => http('POST', '', text, { prefer: 'return=minimal' }));
      expect(res.status, res.text.slice(0, 500)).toBe(200);
      expect(res.body.type).toBe('transaction-response');
      const out: any[] = res.body.entry;
      expect(out).toHaveLength(entries.length);
      for (const e of out) expect(e.response.status).toMatch(/^201/);

      // per type, as many created as the bundle holds, and each entry created a resource of its own type
      const locations = out.map((e) => e.response.location.split('/_history/')[0] as string);
      expect(countBy(locations, (l) => l.split('/')[0])).toEqual(countBy(entries, (e) => e.resource.resourceType));
      entries.forEach((e, i) => expect(locations[i].split('/')[0]).toBe(e.resource.resourceType));
      expect(new Set(locations).size).toBe(locations.length);

      // the references of a sample of resources point at what the transaction created
      const created = new Map(entries.map((e, i) => [e.fullUrl as string, locations[i]]));
      const sample = new Set<number>();
      for (const type of ['Patient', 'Encounter', 'Observation', 'Claim', 'ExplanationOfBenefit', 'MedicationRequest', 'DiagnosticReport', 'Organization', 'PractitionerRole']) {
        const i = entries.findIndex((e) => e.resource.resourceType === type);
        if (i >= 0) sample.add(i);
      }
      sample.add(entries.length - 1);
      const targets = new Set<string>();
      for (const i of sample) {
        const read = await http('GET', locations[i]);
        expect(read.status).toBe(200);
        const original = references(entries[i].resource);
        const stored = new Map(references(read.body));
        for (const [at, ref] of original) {
          const expected = ref.startsWith('urn:uuid:') ? created.get(ref) : ref;
          expect(expected, `${file} ${locations[i]} ${at}: ${ref} is not a fullUrl of the bundle`).toBeDefined();
          expect(stored.get(at), `${locations[i]} ${at}`).toBe(expected);
          if (!ref.startsWith('#')) targets.add(expected!);
        }
      }
      for (const target of targets) {
        const t = await http('GET', `${target}?_elements=id`);
        expect(t.status, target).toBe(200);
        expect(`${t.body.resourceType}/${t.body.id}`).toBe(target);
      }
    }, 300_000);
  });
});
