import { Global, Module } from '@nestjs/common';
import { FhirModule } from '../../fhir/fhir.module.js';
import { REQUEST_AUTHENTICATOR } from '../../fhir/pipeline/principal.js';
import { SearchModule } from '../../fhir/search/search.module.js';
import { AuthEvents } from './auth-events.js';
import { AuthorizationServer } from './authorization-server.js';
import { AuthorizeStage } from './authorize-stage.js';

/**
 * SMART-on-FHIR: the authorization server (oidc-provider under /auth), the authenticator of the FHIR door
 * (REQUEST_AUTHENTICATOR: bearer token → Principal) and the pipeline's authorize stage. AuthEvents is the hook
 * other modules (audit) listen on.
 */
@Global()
@Module({
  imports: [FhirModule, SearchModule],
  providers: [
    AuthEvents,
    AuthorizationServer,
    AuthorizeStage,
    { provide: REQUEST_AUTHENTICATOR, useExisting: AuthorizationServer },
  ],
  exports: [AuthEvents, AuthorizationServer, REQUEST_AUTHENTICATOR],
})
export class AuthModule {}
