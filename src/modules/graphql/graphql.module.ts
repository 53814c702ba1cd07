import { Module } from '@nestjs/common';
import { FhirModule } from '../../fhir/fhir.module.js';
import { SearchModule } from '../../fhir/search/search.module.js';
import { FhirGraphqlService } from './fhir-graphql.service.js';
import { GraphqlController } from './graphql.controller.js';

/** FHIR GraphQL (issue 8): the door, the generated schema and the resolvers; all data through the FHIR pipeline. */
@Module({
  imports: [FhirModule, SearchModule],
  controllers: [GraphqlController],
  providers: [FhirGraphqlService],
})
export class GraphqlModule {}
