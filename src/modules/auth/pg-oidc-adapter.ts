import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from '../database/db.js';

/** Told when tokens disappear, so caches of token lookups (TokenPrincipals) forget them at once. */
export interface TokenRemovalListener {
  removed(id: string): void;
  grantRevoked(grantId: string): void;
}

/**
 * oidc-provider's storage on PostgreSQL: one table (auth_model) keyed by model name and id, with the grant id, uid
 * and user code as indexed columns for the provider's lookups, and an expiry after which a row is ignored (and
 * later swept). Clients live in their own table (auth_client) so the admin API and the CLI manage them as rows.
 */
export function pgAdapterClass(db: Db, listener: TokenRemovalListener): new (name: string) => Adapter {
  return class PgOidcAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.model === 'Client') {
        await db.query(
          `INSERT INTO auth_client (client_id, metadata) VALUES ($1, $2)
           ON CONFLICT (client_id) DO UPDATE SET metadata = EXCLUDED.metadata, updated_at = now()`,
          [id, payload],
        );
        return;
      }
      const expires = expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null;
      await db.query(
        `INSERT INTO auth_model (model, id, payload, grant_id, uid, user_code, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
           user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`,
        [this.model, id, payload, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expires],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const res = await db.query('SELECT metadata FROM auth_client WHERE client_id = $1', [id]);
        return res.rows[0]?.metadata;
      }
      return this.one('id = $2', id);
    }

    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.one('uid = $2', uid);
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.one('user_code = $2', userCode);
    }

    async consume(id: string): Promise<void> {
      await db.query(`UPDATE auth_model SET consumed_at = now() WHERE model = $1 AND id = $2`, [this.model, id]);
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') {
        await db.query('DELETE FROM auth_client WHERE client_id = $1', [id]);
        return;
      }
      await db.query('DELETE FROM auth_model WHERE model = $1 AND id = $2', [this.model, id]);
      listener.removed(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query('DELETE FROM auth_model WHERE grant_id = $1', [grantId]);
      listener.grantRevoked(grantId);
    }

    private async one(where: string, value: string): Promise<AdapterPayload | undefined> {
      const res = await db.query(
        `SELECT payload, consumed_at FROM auth_model WHERE model = $1 AND ${where} AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, value],
      );
      const row = res.rows[0];
      if (!row) return undefined;
      // consumed codes and refresh tokens are kept (reuse detection) and marked with `consumed`
      return row.consumed_at ? { ...row.payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : row.payload;
    }
  };
}

/** Deletes expired rows; run now and then by one process (harmless when several do). */
export async function sweepExpired(db: Db): Promise<void> {
  await db.query(`DELETE FROM auth_model WHERE expires_at < now() - interval '1 minute'`);
  await db.query(`DELETE FROM auth_launch WHERE expires_at < now()`);
  await db.query(`DELETE FROM auth_grant_context WHERE expires_at < now()`);
}
