import { randomBytes } from 'node:crypto';
import type { Queryable } from '../database/db.js';

/** The SMART launch context an app receives with its token (App Launch 2.x, "launch context arrives with the token"). */
export interface SmartContext {
  /** Patient id (not a reference) */
  patient?: string;
  /** Encounter id */
  encounter?: string;
  fhirContext?: { reference?: string; role?: string; type?: string; identifier?: unknown }[];
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  intent?: string;
  tenant?: string;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const LAUNCH_TTL_S = 3600;

export function checkContext(input: any): SmartContext {
  const ctx: SmartContext = {};
  if (input?.patient !== undefined) {
    if (typeof input.patient !== 'string' || !ID.test(input.patient.replace(/^Patient\//, ''))) throw new Error('patient must be a Patient id');
    ctx.patient = input.patient.replace(/^Patient\//, '');
  }
  if (input?.encounter !== undefined) {
    if (typeof input.encounter !== 'string' || !ID.test(input.encounter.replace(/^Encounter\//, ''))) throw new Error('encounter must be an Encounter id');
    ctx.encounter = input.encounter.replace(/^Encounter\//, '');
  }
  if (input?.fhirContext !== undefined) {
    if (!Array.isArray(input.fhirContext) || input.fhirContext.some((c: any) => typeof c !== 'object' || c === null)) throw new Error('fhirContext must be an array of objects');
    ctx.fhirContext = input.fhirContext;
  }
  if (input?.needPatientBanner !== undefined) ctx.needPatientBanner = input.needPatientBanner === true;
  if (typeof input?.smartStyleUrl === 'string') ctx.smartStyleUrl = input.smartStyleUrl;
  if (typeof input?.intent === 'string') ctx.intent = input.intent;
  return ctx;
}

/**
 * EHR launch contexts (auth_launch): the EHR creates one through the admin API and passes its id to the app as
 * `launch`; the authorization request binds to it. Grant contexts (auth_grant_context): the context decided when
 * the user approved, read back for every token issued from that grant (code exchange and refreshes).
 */
export class LaunchContexts {
  constructor(private readonly db: Queryable) {}

  async create(context: SmartContext, ttlSeconds = LAUNCH_TTL_S): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    await this.db.query(`INSERT INTO auth_launch (id, context, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`, [id, context, ttlSeconds]);
    return id;
  }

  async find(id: string): Promise<SmartContext | undefined> {
    const res = await this.db.query('SELECT context FROM auth_launch WHERE id = $1 AND expires_at > now()', [id]);
    return res.rows[0]?.context;
  }

  async bindGrant(grantId: string, context: SmartContext, ttlSeconds: number): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_grant_context (grant_id, context, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (grant_id) DO UPDATE SET context = EXCLUDED.context, expires_at = EXCLUDED.expires_at`,
      [grantId, context, ttlSeconds],
    );
  }

  async forGrant(grantId: string): Promise<SmartContext | undefined> {
    const res = await this.db.query('SELECT context FROM auth_grant_context WHERE grant_id = $1 AND expires_at > now()', [grantId]);
    return res.rows[0]?.context;
  }
}
