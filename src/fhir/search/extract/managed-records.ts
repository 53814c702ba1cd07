/**
 * Records the hub derives and manages itself — today the master patient index's golden Patients — are indexed for
 * search by their meta (`_id`, `_tag`, `_lastUpdated`), `link` and `active` only. They repeat their sources'
 * names and identifiers; indexing those would make every demographic search and every conditional create
 * (`Patient?identifier=...`) find the person twice. They are reached by id, `_tag`, `link`, and the MPI's operations.
 */
export const GOLDEN_RECORD_TAG = { system: 'http://hie-hub.dev/mpi', code: 'golden' } as const;

export function isGoldenRecord(resource: any): boolean {
  return (
    resource?.resourceType === 'Patient' &&
    Array.isArray(resource.meta?.tag) &&
    resource.meta.tag.some((t: any) => t?.system === GOLDEN_RECORD_TAG.system && t?.code === GOLDEN_RECORD_TAG.code)
  );
}

/** What the search index sees of a resource. */
export function indexedView(resource: any): any {
  if (!isGoldenRecord(resource)) return resource;
  const { resourceType, id, meta, link, active } = resource;
  return { resourceType, id, meta, link, active };
}
