import { ApolloServer, HeaderMap, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { GraphQLError, Kind, type FragmentDefinitionNode, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { FhirError } from '../../fhir/operation-outcome.js';
import { OperationRegistry } from '../../fhir/engine/operation-registry.js';
import { FhirPipeline } from '../../fhir/pipeline/pipeline.js';
import { SearchParamRegistry } from '../../fhir/search/params/search-param-registry.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { HUB_LOGGER } from '../logging/logger.js';
import { FhirDirectives } from './directives/fhir-directives.js';
import { queryLimitRules } from './limits/query-limits.js';
import type { GraphqlContext } from './resolvers/element-resolvers.js';
import { FhirDataAccess, type DoorRequest } from './resolvers/fhir-data-access.js';
import { buildFhirSchema } from './schema/fhir-schema.js';
import { QueryRewriter } from './schema/query-rewriter.js';

const int = (name: string, fallback: number) => {
  const n = Number(process.env[name]);
  return process.env[name] && Number.isInteger(n) && n > 0 ? n : fallback;
};

interface Engine {
  server: ApolloServer<GraphqlContext>;
  rewriter: QueryRewriter;
}

/**
 * The FHIR GraphQL engine: the schema generated from the R4 definitions (built on first use: ~20 MB and a second
 * or more, which a hub that never serves GraphQL does not pay) served by Apollo Server, with the depth/cost rules,
 * the FHIR directives and FhirError → GraphQL error mapping.
 */
@Injectable()
export class FhirGraphqlService implements OnModuleInit, OnApplicationShutdown {
  private engine?: Promise<Engine>;
  readonly maxDepth = int('GRAPHQL_MAX_DEPTH', 15);
  readonly maxCost = int('GRAPHQL_MAX_COST', 5000);

  constructor(
    private readonly pipeline: FhirPipeline,
    private readonly registry: SearchParamRegistry,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(HUB_LOGGER) private readonly log: Logger,
    private readonly operations: OperationRegistry,
  ) {}

  /**
   * `$graphql` is listed in the CapabilityStatement (system and instance level). Over HTTP the GraphQL door serves
   * it; the registered handler is reached only from a batch/transaction entry, where a GraphQL answer has no place.
   */
  onModuleInit(): void {
    this.operations.register({
      name: 'graphql',
      definition: 'http://hl7.org/fhir/OperationDefinition/Resource-graphql',
      levels: ['system', 'instance'],
      affectsState: false,
      execute: async () => {
        throw FhirError.badRequest('$graphql is served over HTTP at [base]/$graphql and [base]/[type]/[id]/$graphql, not inside a Bundle');
      },
    });
  }

  private start(): Promise<Engine> {
    return (this.engine ??= (async () => {
      const { schema } = buildFhirSchema(this.registry);
      const production = process.env.NODE_ENV === 'production';
      const server = new ApolloServer<GraphqlContext>({
        schema,
        introspection: true,
        // the hub authenticates with bearer tokens, which browsers do not attach to cross-site requests, and FHIR
        // clients send GET ?query= without preflight headers (server-tests of the FHIR GraphQL spec)
        csrfPrevention: false,
        includeStacktraceInErrorResponses: false,
        // the hub stops in its own order on SIGINT/SIGTERM (src/main.ts); Apollo would stop and re-raise the signal
        stopOnTerminationSignals: false,
        // automatic persisted queries keep up to ~30 MB of query texts; FHIR GraphQL clients send queries whole
        persistedQueries: false,
        validationRules: queryLimitRules({ maxDepth: this.maxDepth, maxCost: this.maxCost, defaultPageSize: this.config.defaultPageSize, maxPageSize: this.config.maxPageSize }),
        plugins: [production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }), directivesPlugin()],
        formatError: (formatted, error) => this.formatError(formatted, error),
      });
      await server.start();
      return { server, rewriter: new QueryRewriter(schema) };
    })().catch((e) => {
      this.engine = undefined;
      throw e;
    }));
  }

  /** Runs one HTTP GraphQL request; `instance` makes that resource the query root. */
  async execute(http: HTTPGraphQLRequest, door: DoorRequest, instance?: { type: string; id: string }): Promise<HTTPGraphQLResponse> {
    const { server, rewriter } = await this.start();
    const rewrite = (q: unknown) => (typeof q === 'string' ? rewriter.rewrite(q, instance) : q);
    let request = http;
    if (http.method === 'GET') {
      const search = new URLSearchParams(http.search);
      if (search.has('query')) search.set('query', rewrite(search.get('query')) as string);
      request = { ...http, search: search.toString() };
    } else if (http.body && typeof http.body === 'object' && !Array.isArray(http.body)) {
      request = { ...http, body: { ...(http.body as object), query: rewrite((http.body as any).query) } };
    }
    return server.executeHTTPGraphQLRequest({
      httpGraphQLRequest: request,
      context: async () => ({ data: new FhirDataAccess(this.pipeline, this.registry, door, this.config) }),
    });
  }

  private formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
    // Apollo gives every validation error the code GRAPHQL_VALIDATION_FAILED; the limit rules say which limit
    const limit = formatted.extensions?.limit;
    if (typeof limit === 'string') {
      const { limit: _l, ...extensions } = formatted.extensions!;
      return { ...formatted, extensions: { ...extensions, code: limit } };
    }
    const original = unwrapResolverError(error);
    if (original instanceof FhirError) {
      return { ...formatted, message: original.message, extensions: { code: 'FHIR_ERROR', status: original.status, operationOutcome: original.outcome } };
    }
    if (original instanceof GraphQLError || !(original instanceof Error) || formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') return formatted;
    this.log.error({ err: original }, 'GraphQL resolver failed');
    return { ...formatted, message: 'Internal server error' };
  }

  async onApplicationShutdown(): Promise<void> {
    const engine = await this.engine?.catch(() => undefined);
    await engine?.server.stop();
  }
}

/** Applies @flatten/@first/@singleton/@slice to the executed result (see FhirDirectives). */
function directivesPlugin() {
  return {
    async requestDidStart() {
      return {
        async willSendResponse(rc: any) {
          const body = rc.response.body;
          if (body.kind !== 'single' || !body.singleResult.data || !rc.operation || !rc.document) return;
          const fragments = new Map<string, FragmentDefinitionNode>(
            rc.document.definitions.filter((d: any) => d.kind === Kind.FRAGMENT_DEFINITION).map((d: FragmentDefinitionNode) => [d.name.value, d]),
          );
          if (!FhirDirectives.uses(rc.operation, fragments.values())) return;
          try {
            body.singleResult.data = new FhirDirectives(fragments, rc.contextValue.data.slices).apply(body.singleResult.data, rc.operation);
          } catch (e) {
            if (!(e instanceof GraphQLError)) throw e;
            body.singleResult.data = null;
            body.singleResult.errors = [...(body.singleResult.errors ?? []), { message: e.message, extensions: e.extensions }];
          }
        },
      };
    },
  };
}

export { HeaderMap };
