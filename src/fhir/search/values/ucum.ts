import fhirpath from 'fhirpath';

export const UCUM = 'http://unitsofmeasure.org';

interface Canonical {
  code: string;
  factor: number;
}

/** unit code → conversion to UCUM base units (null: not convertible, or not linear such as Cel). */
const cache = new Map<string, Canonical | null>();
const CACHE_LIMIT = 10_000;

/**
 * A UCUM quantity in canonical (base) units, so `5 mg` and `0.005 g` index and search alike. The UCUM library
 * (bundled with fhirpath) takes ~0.1-0.7 ms per call, so the factor for each unit is computed once and cached.
 */
export function canonicalQuantity(code: string, value: number): { code: string; value: number } | undefined {
  let c = cache.get(code);
  if (c === undefined) {
    c = computeCanonical(code);
    if (cache.size < CACHE_LIMIT) cache.set(code, c);
  }
  if (!c) return undefined;
  return { code: c.code, value: Number((value * c.factor).toPrecision(15)) };
}

function computeCanonical(code: string): Canonical | null {
  try {
    const utils: any = (fhirpath as any).ucumUtils;
    const r = utils.convertToBaseUnits(code, 1);
    if (r?.status !== 'succeeded' || r.fromUnitIsSpecial) return null;
    const dims = Object.entries(r.unitToExp as Record<string, number>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([u, e]) => (e === 1 ? u : `${u}${e}`));
    return { code: dims.length ? dims.join('.') : '1', factor: r.magnitude };
  } catch {
    return null;
  }
}
