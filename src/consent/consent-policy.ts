import type { Queryable } from '../modules/database/db.js';
import type { BasePolicy } from './consent-rules.js';

export interface ConsentPolicy {
  base: BasePolicy;
  /** a denied read answers 404 instead of 403, so that the data's existence does not leak */
  hideDenied: boolean;
}

/**
 * The hub-wide base policy (one row, `consent_policy`). Not cached: the consent stage reads it with each request's
 * context (`consent-context.ts`), so a change made by any hub process decides the very next request.
 */
export class ConsentPolicyStore {
  async current(q: Queryable): Promise<ConsentPolicy> {
    const res = await q.query({ name: 'consent_policy_read', text: 'SELECT opt_in, hide_denied FROM consent_policy WHERE id = 1', values: [] });
    const row = res.rows[0] ?? { opt_in: false, hide_denied: false };
    return { base: row.opt_in ? 'opt-in' : 'opt-out', hideDenied: row.hide_denied };
  }

  async set(q: Queryable, change: Partial<ConsentPolicy>): Promise<ConsentPolicy> {
    const res = await q.query(
      `UPDATE consent_policy SET opt_in = COALESCE($1, opt_in), hide_denied = COALESCE($2, hide_denied), updated_at = now()
       WHERE id = 1 RETURNING opt_in, hide_denied`,
      [change.base === undefined ? null : change.base === 'opt-in', change.hideDenied ?? null],
    );
    const row = res.rows[0];
    return { base: row.opt_in ? 'opt-in' : 'opt-out', hideDenied: row.hide_denied };
  }
}
