import { Injectable } from '@nestjs/common';

/** What the authorization server tells listeners (the audit stage records these). */
export interface AuthEvent {
  type: 'token-issued' | 'token-failed' | 'login' | 'login-failed';
  clientId?: string;
  /** user account id, or the username tried for login-failed */
  user?: string;
  grantType?: string;
  address?: string;
  outcome: 'success' | 'failure';
  /** OAuth error code / description on failure */
  error?: string;
  at: string;
}

export type AuthEventListener = (event: AuthEvent) => void;

/** A small hook for other modules (audit): `authEvents.on(listener)`; listeners must not throw or block. */
@Injectable()
export class AuthEvents {
  private readonly listeners: AuthEventListener[] = [];

  on(listener: AuthEventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: Omit<AuthEvent, 'at'>): void {
    const full = { ...event, at: new Date().toISOString() };
    for (const l of this.listeners) {
      try {
        l(full);
      } catch {
        // a listener's failure is its own business
      }
    }
  }
}
