import { resultResource, type InteractionResult, type PreferHeader } from '../pipeline/interaction.js';

/** Bundle.entry of a batch-response / transaction-response for one entry's result. */
export function renderEntryResponse(res: InteractionResult, baseUrl: string, prefer: PreferHeader = {}): any {
  const entry: any = {};
  const minimal = prefer.return === 'minimal' && res.location !== undefined;
  const body = minimal ? undefined : resultResource(res);
  if (res.location) entry.fullUrl = `${baseUrl}/${res.location.split('/_history/')[0]}`;
  if (body) entry.resource = body;
  entry.response = { status: String(res.status) };
  if (res.location) entry.response.location = res.location;
  if (res.versionId) entry.response.etag = `W/"${res.versionId}"`;
  if (res.lastUpdated) entry.response.lastModified = res.lastUpdated;
  if (res.outcome) entry.response.outcome = res.outcome;
  return entry;
}
