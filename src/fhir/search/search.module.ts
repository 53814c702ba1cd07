import { Module } from '@nestjs/common';
import { Db } from '../../modules/database/db.js';
import { SEARCH_INDEX_WRITER } from '../store/stored-resource.js';
import { SearchParameterIndexer } from './extract/search-parameter-indexer.js';
import { PgSearchIndexWriter } from './index/search-index-writer.js';
import { StatisticsKeeper } from './index/statistics-keeper.js';
import { SearchParamRegistry } from './params/search-param-registry.js';
import { PgSearchEngine } from './pg-search-engine.js';
import { ReindexJobs } from './reindex/reindex-jobs.js';
import { SearchCapabilities } from './search-capabilities.js';
import { SEARCH_ENGINE } from './search-engine.js';

/**
 * Search: index extraction at write time (SEARCH_INDEX_WRITER, used by the resource store inside each write's
 * transaction) and the query engine (SEARCH_ENGINE). The registry of search parameters is shared by both, so a
 * custom SearchParameter is indexed and searchable with the same definition.
 */
@Module({
  providers: [
    { provide: SearchParamRegistry, useFactory: () => new SearchParamRegistry().warmUp() },
    { provide: SearchParameterIndexer, inject: [SearchParamRegistry], useFactory: (r: SearchParamRegistry) => new SearchParameterIndexer(r) },
    {
      provide: SEARCH_INDEX_WRITER,
      inject: [SearchParameterIndexer, SearchParamRegistry, Db],
      useFactory: (i: SearchParameterIndexer, r: SearchParamRegistry, db: Db) => new PgSearchIndexWriter(i, r, new StatisticsKeeper(db)),
    },
    { provide: SEARCH_ENGINE, inject: [SearchParamRegistry], useFactory: (r: SearchParamRegistry) => new PgSearchEngine(r) },
    {
      provide: ReindexJobs,
      inject: [Db, SearchParamRegistry, SearchParameterIndexer],
      useFactory: (db: Db, r: SearchParamRegistry, i: SearchParameterIndexer) => new ReindexJobs(db, r, i),
    },
    { provide: SearchCapabilities, inject: [SearchParamRegistry], useFactory: (r: SearchParamRegistry) => new SearchCapabilities(r) },
  ],
  exports: [SEARCH_ENGINE, SEARCH_INDEX_WRITER, SearchParamRegistry, ReindexJobs, SearchCapabilities],
})
export class SearchModule {}
