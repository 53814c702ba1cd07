import path from 'node:path';
import type { BulkConfig } from '../bulk/bulk-config.js';

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
  /** Audit trail on (default). HUB_AUDIT=off exists only to measure the audit's cost (bench/audit.js). */
  audit: boolean;
  /** A signed checkpoint of the audit chain after this many records ... */
  auditCheckpointRecords: number;
  /** ... or this many seconds, whichever comes first (when there is anything new). */
  auditCheckpointSeconds: number;
  /** JWKS file with the private key that signs audit checkpoints (created on first start). */
  auditKeyFile: string;
  /** SMART authorization required on the FHIR API (HUB_AUTH=off turns it off for development) */
  authEnabled: boolean;
  /** a confidential client (client_secret_basic, client_credentials, system/*.*) registered at start */
  bootstrapClientId?: string;
  bootstrapClientSecret?: string;
  /** Bulk data settings overriding the BULK_* environment (tests); see src/modules/bulk/bulk-config.ts */
  bulk?: Partial<BulkConfig>;
}

/** A non-negative integer from the environment, or the fallback when unset (modules' own settings use it too). */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function loadHubConfig(overrides: Partial<HubConfig> = {}): HubConfig {
  const port = overrides.port ?? envInt('PORT', 8080);
  const host = overrides.host ?? process.env.HOST ?? '0.0.0.0';
  const publicUrl = process.env.HUB_PUBLIC_URL?.replace(/\/$/, '');
  return {
    port,
    host,
    fhirBaseUrl: overrides.fhirBaseUrl ?? `${publicUrl ?? `http://localhost:${port}`}/fhir`,
    databaseUrl: overrides.databaseUrl ?? (process.env.DATABASE_URL || undefined),
    dataDir: path.resolve(overrides.dataDir ?? process.env.DATA_DIR ?? './data'),
    embeddedPgPort: overrides.embeddedPgPort ?? envInt('EMBEDDED_PG_PORT', 54329),
    dbPoolSize: overrides.dbPoolSize ?? envInt('DB_POOL_SIZE', 20),
    bodyLimit: overrides.bodyLimit ?? envInt('BODY_LIMIT', 16 * 1024 * 1024),
    bundleBodyLimit: overrides.bundleBodyLimit ?? envInt('BUNDLE_BODY_LIMIT', 128 * 1024 * 1024),
    logLevel: overrides.logLevel ?? process.env.LOG_LEVEL ?? 'info',
    defaultPageSize: overrides.defaultPageSize ?? envInt('DEFAULT_PAGE_SIZE', 20),
    maxPageSize: overrides.maxPageSize ?? envInt('MAX_PAGE_SIZE', 1000),
    audit: overrides.audit ?? process.env.HUB_AUDIT !== 'off',
    auditCheckpointRecords: overrides.auditCheckpointRecords ?? envInt('HUB_AUDIT_CHECKPOINT_RECORDS', 1000),
    auditCheckpointSeconds: overrides.auditCheckpointSeconds ?? envInt('HUB_AUDIT_CHECKPOINT_SECONDS', 60),
    auditKeyFile: path.resolve(overrides.auditKeyFile ?? process.env.HUB_AUDIT_KEY_FILE ?? path.join(overrides.dataDir ?? process.env.DATA_DIR ?? './data', 'audit-signing-key.json')),
    authEnabled: overrides.authEnabled ?? !/^(off|false|0|no)$/i.test(process.env.HUB_AUTH ?? ''),
    bootstrapClientId: overrides.bootstrapClientId ?? (process.env.HUB_BOOTSTRAP_CLIENT_ID || undefined),
    bootstrapClientSecret: overrides.bootstrapClientSecret ?? (process.env.HUB_BOOTSTRAP_CLIENT_SECRET || undefined),
    bulk: overrides.bulk,
  };
}

/** Injection token for the HubConfig value. */
export const HUB_CONFIG = Symbol('HUB_CONFIG');
