import type { Queryable } from '../modules/database/db.js';
import type { BasePolicy } from './consent-rules.js';

export interface ConsentPolicy {
  base: BasePolicy;
  /** a denied read answers 404 instead of 403, so that the data's existence does not leak */
  hideDenied: boolean;
}

/** How long this process trusts its copy of the base policy; a change made here is seen here at once. */
const POLICY_TTL_MS = 2_000;

/**
 * The hub-wide base policy (one row, `consent_policy`). It changes rarely (an administrator's decision), so each
 * process keeps a copy for a moment; the Consents themselves are never cached (they are rows the SQL reads).
 */
export class ConsentPolicyStore {
  private cached?: { policy: ConsentPolicy; at: number };

  async current(q: Queryable): Promise<ConsentPolicy> {
    const c = this.cached;
    if (c && Date.now() - c.at < POLICY_TTL_MS) return c.policy;
    const res = await q.query({ name: 'consent_policy_read', text: 'SELECT opt_in, hide_denied FROM consent_policy WHERE id = 1', values: [] });
    const row = res.rows[0] ?? { opt_in: false, hide_denied: false };
    const policy: ConsentPolicy = { base: row.opt_in ? 'opt-in' : 'opt-out', hideDenied: row.hide_denied };
    this.cached = { policy, at: Date.now() };
    return policy;
  }

  async set(q: Queryable, change: Partial<ConsentPolicy>): Promise<ConsentPolicy> {
    const res = await q.query(
      `UPDATE consent_policy SET opt_in = COALESCE($1, opt_in), hide_denied = COALESCE($2, hide_denied), updated_at = now()
       WHERE id = 1 RETURNING opt_in, hide_denied`,
      [change.base === undefined ? null : change.base === 'opt-in', change.hideDenied ?? null],
    );
    const row = res.rows[0];
    const policy: ConsentPolicy = { base: row.opt_in ? 'opt-in' : 'opt-out', hideDenied: row.hide_denied };
    this.cached = { policy, at: Date.now() };
    return policy;
  }
}
