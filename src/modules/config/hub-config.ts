import path from 'node:path';

/** Typed configuration read once from the environment. */
export interface HubConfig {
  port: number;
  host: string;
  /** Absolute base URL of the FHIR endpoint as clients see it, e.g. http://localhost:8080/fhir */
  fhirBaseUrl: string;
  /** When set, this PostgreSQL server is used; otherwise an embedded one is started under dataDir. */
  databaseUrl?: string;
  dataDir: string;
  embeddedPgPort: number;
  dbPoolSize: number;
  /** Largest accepted body for ordinary requests (bytes). */
  bodyLimit: number;
  /** Largest accepted body for batch/transaction Bundles posted to the base (bytes). */
  bundleBodyLimit: number;
  logLevel: string;
  defaultPageSize: number;
  maxPageSize: number;
}

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function loadHubConfig(overrides: Partial<HubConfig> = {}): HubConfig {
  const port = overrides.port ?? int('PORT', 8080);
  const host = overrides.host ?? process.env.HOST ?? '0.0.0.0';
  const publicUrl = process.env.HUB_PUBLIC_URL?.replace(/\/$/, '');
  return {
    port,
    host,
    fhirBaseUrl: overrides.fhirBaseUrl ?? `${publicUrl ?? `http://localhost:${port}`}/fhir`,
    databaseUrl: overrides.databaseUrl ?? (process.env.DATABASE_URL || undefined),
    dataDir: path.resolve(overrides.dataDir ?? process.env.DATA_DIR ?? './data'),
    embeddedPgPort: overrides.embeddedPgPort ?? int('EMBEDDED_PG_PORT', 54329),
    dbPoolSize: overrides.dbPoolSize ?? int('DB_POOL_SIZE', 20),
    bodyLimit: overrides.bodyLimit ?? int('BODY_LIMIT', 16 * 1024 * 1024),
    bundleBodyLimit: overrides.bundleBodyLimit ?? int('BUNDLE_BODY_LIMIT', 128 * 1024 * 1024),
    logLevel: overrides.logLevel ?? process.env.LOG_LEVEL ?? 'info',
    defaultPageSize: overrides.defaultPageSize ?? int('DEFAULT_PAGE_SIZE', 20),
    maxPageSize: overrides.maxPageSize ?? int('MAX_PAGE_SIZE', 1000),
  };
}

/** Injection token for the HubConfig value. */
export const HUB_CONFIG = Symbol('HUB_CONFIG');
