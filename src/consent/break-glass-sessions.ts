import { randomUUID } from 'node:crypto';
import type { Queryable } from '../modules/database/db.js';
import type { Principal } from '../fhir/pipeline/principal.js';

export interface BreakGlassSession {
  id: string;
  userId: string;
  fhirUser?: string;
  organization?: string;
  clientId?: string;
  patientId: string;
  purpose: string;
  reason: string;
  startedAt: string;
  expiresAt: string;
  reviewedAt?: string;
  reviewedBy?: string;
  reviewComment?: string;
}

export const BREAK_GLASS_PURPOSES = ['BTG', 'ETREAT'];

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : undefined);

function toSession(row: any): BreakGlassSession {
  return {
    id: row.id,
    userId: row.user_id,
    fhirUser: row.fhir_user ?? undefined,
    organization: row.organization ?? undefined,
    clientId: row.client_id ?? undefined,
    patientId: row.patient_id,
    purpose: row.purpose,
    reason: row.reason,
    startedAt: iso(row.started_at)!,
    expiresAt: iso(row.expires_at)!,
    reviewedAt: iso(row.reviewed_at),
    reviewedBy: row.reviewed_by ?? undefined,
    reviewComment: row.review_comment ?? undefined,
  };
}

/**
 * Break-the-glass sessions in PostgreSQL: a user's emergency access to one patient for a limited time, overriding
 * consent denials for that user and patient, and its review by a compliance officer afterwards. The running
 * sessions of a request's user are read with the request's consent context (`consent-context.ts`), never cached.
 */
export class BreakGlassSessions {
  async start(q: Queryable, p: Principal, patientId: string, purpose: string, reason: string, minutes: number): Promise<BreakGlassSession> {
    const res = await q.query(
      `INSERT INTO break_glass_session (id, user_id, fhir_user, organization, client_id, patient_id, purpose, reason, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9)) RETURNING *`,
      [randomUUID(), p.userId, p.fhirUser ?? null, p.organization ?? null, p.clientId ?? null, patientId, purpose, reason, Math.round(minutes * 60)],
    );
    return toSession(res.rows[0]);
  }

  /** Sessions not reviewed yet (running or over), oldest first; with `all`, reviewed ones too. */
  async list(q: Queryable, opts: { all?: boolean; patientId?: string; limit?: number } = {}): Promise<BreakGlassSession[]> {
    const res = await q.query(
      `SELECT * FROM break_glass_session WHERE ($1 OR reviewed_at IS NULL) AND ($2::text IS NULL OR patient_id = $2)
       ORDER BY started_at LIMIT $3`,
      [!!opts.all, opts.patientId ?? null, opts.limit ?? 500],
    );
    return res.rows.map(toSession);
  }

  /** Marks a session reviewed; undefined when there is no such session. Reviewing again replaces the comment. */
  async review(q: Queryable, id: string, reviewer: string, comment: string): Promise<BreakGlassSession | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const res = await q.query(
      `UPDATE break_glass_session SET reviewed_at = now(), reviewed_by = $2, review_comment = $3 WHERE id = $1 RETURNING *`,
      [id, reviewer, comment],
    );
    return res.rows[0] ? toSession(res.rows[0]) : undefined;
  }

  /** Ends a session early (the user is done). */
  async end(q: Queryable, id: string, userId: string): Promise<boolean> {
    const res = await q.query(`UPDATE break_glass_session SET expires_at = now() WHERE id = $1 AND user_id = $2 AND expires_at > now()`, [id, userId]);
    return (res.rowCount ?? 0) > 0;
  }
}
