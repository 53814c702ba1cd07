import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { Db } from '../database/db.js';

export interface ProviderKeys {
  /** private JWKs the provider signs with (id_token RS256) */
  jwks: { keys: any[] };
  /** secrets that sign the provider's cookies */
  cookieKeys: string[];
}

/**
 * The provider's keys live in PostgreSQL so every hub process signs and verifies with the same ones and tokens
 * survive restarts. The first process to start creates them; a concurrent one keeps the winner's (fixed ids).
 */
export async function loadProviderKeys(db: Db): Promise<ProviderKeys> {
  let rows = (await db.query(`SELECT kid, use, jwk FROM auth_key ORDER BY created_at, kid`)).rows;
  if (!rows.some((r: any) => r.use === 'sig') || !rows.some((r: any) => r.use === 'cookie')) {
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'hub-rs256-1', alg: 'RS256', use: 'sig' };
    await db.query(`INSERT INTO auth_key (kid, use, jwk) VALUES ($1, 'sig', $2) ON CONFLICT (kid) DO NOTHING`, ['hub-rs256-1', jwk]);
    await db.query(`INSERT INTO auth_key (kid, use, jwk) VALUES ('cookie-1', 'cookie', $1) ON CONFLICT (kid) DO NOTHING`, [{ k: randomBytes(32).toString('base64url') }]);
    rows = (await db.query(`SELECT kid, use, jwk FROM auth_key ORDER BY created_at, kid`)).rows;
  }
  return {
    jwks: { keys: rows.filter((r: any) => r.use === 'sig').map((r: any) => r.jwk) },
    cookieKeys: rows.filter((r: any) => r.use === 'cookie').map((r: any) => r.jwk.k),
  };
}
