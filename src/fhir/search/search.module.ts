// PLACEHOLDER written by the lead so the app compiles; the search engineer replaces this whole file.
import { Module } from '@nestjs/common';
import { FhirError } from '../operation-outcome.js';
import { SEARCH_ENGINE, type SearchEngine } from './search-engine.js';
import { SEARCH_INDEX_WRITER } from '../store/stored-resource.js';

const notReady: SearchEngine = {
  search: async () => {
    throw new FhirError(501, 'search not ready', 'not-supported');
  },
  matchIds: async () => {
    throw new FhirError(501, 'search not ready', 'not-supported');
  },
};

@Module({
  providers: [
    { provide: SEARCH_ENGINE, useValue: notReady },
    { provide: SEARCH_INDEX_WRITER, useValue: { write: async () => undefined, remove: async () => undefined } },
  ],
  exports: [SEARCH_ENGINE, SEARCH_INDEX_WRITER],
})
export class SearchModule {}
