/** One version of a resource as the store knows it. */
export interface StoredVersion {
  /** internal row id of the logical resource (what search index rows refer to) */
  rid: string;
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  method?: string;
  /** JSON text of the resource as stored (absent for a delete tombstone) */
  json?: string;
}

/** Writes and removes a resource's search index rows in the write's own transaction (see src/fhir/search). */
export interface SearchIndexWriter {
  write(tx: import('../../modules/database/db.js').Tx, stored: StoredVersion, resource: any): Promise<void>;
  remove(tx: import('../../modules/database/db.js').Tx, stored: StoredVersion): Promise<void>;
  /** Index rows of many new resources at once (optional; write() is called per resource otherwise). */
  writeMany?(tx: import('../../modules/database/db.js').Tx, items: { stored: StoredVersion; resource: any }[]): Promise<void>;
}

export const SEARCH_INDEX_WRITER = Symbol('SEARCH_INDEX_WRITER');

export function weakEtag(versionId: number | string): string {
  return `W/"${versionId}"`;
}

/** Accepts W/"3", "3" or 3 (clients differ) and returns the version number, or undefined when unparseable. */
export function parseEtagVersion(etag: string | undefined): number | undefined {
  if (!etag) return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(etag);
  return m ? Number(m[1]) : undefined;
}
