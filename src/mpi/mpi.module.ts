import { Inject, Injectable, Module, OnModuleInit } from '@nestjs/common';
import { Db } from '../modules/database/db.js';
import { OperationRegistry } from '../fhir/engine/operation-registry.js';
import { FhirModule } from '../fhir/fhir.module.js';
import { SEARCH_ENGINE, type SearchEngine } from '../fhir/search/search-engine.js';
import { MasterPatientIndex } from './master-patient-index.js';
import { mpiOperations } from './mpi-operations.js';
import { RelinkJobs } from './relink-jobs.js';

/** Registers the MPI's operations (listed in the CapabilityStatement through the operation registry). */
@Injectable()
class MpiRegistration implements OnModuleInit {
  constructor(
    private readonly mpi: MasterPatientIndex,
    private readonly db: Db,
    private readonly operations: OperationRegistry,
    private readonly jobs: RelinkJobs,
    @Inject(SEARCH_ENGINE) private readonly search: SearchEngine,
  ) {}

  onModuleInit(): void {
    for (const op of mpiOperations(this.mpi, this.db, this.search, this.jobs)) this.operations.register(op);
  }
}

/** Master patient index: matching on every Patient write, golden records, links, $match, review operations. */
@Module({
  imports: [FhirModule],
  providers: [
    MasterPatientIndex,
    { provide: RelinkJobs, inject: [Db, MasterPatientIndex], useFactory: (db: Db, mpi: MasterPatientIndex) => new RelinkJobs(db, mpi) },
    MpiRegistration,
  ],
})
export class MpiModule {}
