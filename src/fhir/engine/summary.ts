import { FhirError } from '../operation-outcome.js';
import { project } from '../search/query/projection.js';

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';

export function parseSummary(value: string | undefined): SummaryMode | undefined {
  if (value === undefined) return undefined;
  if (!['true', 'false', 'text', 'data', 'count'].includes(value)) throw FhirError.badRequest(`Invalid _summary value "${value}"`);
  return value as SummaryMode;
}

/** Applies _summary and _elements to a resource that was read, exactly as search does to each of its results. */
export function applySummary(resource: any, summary: SummaryMode | undefined, elements: string[] | undefined): any {
  const mode = summary === 'false' || summary === 'count' ? undefined : summary;
  return mode || elements?.length ? project(resource, mode, elements) : resource;
}

export function parseElements(values: string[]): string[] | undefined {
  const list = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  return list.length ? list : undefined;
}
