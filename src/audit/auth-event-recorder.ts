import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import type { Logger } from 'pino';
import { HUB_LOGGER } from '../modules/logging/logger.js';
import { AuthEvents, type AuthEvent } from '../modules/auth/auth-events.js';
import { AuditTrail, DCM } from './audit-trail.js';

/** DICOM audit event types for authorization-server events (as IHE BALP uses them). */
const USER_AUTHENTICATION = { system: DCM, code: '110114', display: 'User Authentication' };
const LOGIN = { system: DCM, code: '110122', display: 'Login' };
const SECURITY_ALERT = { system: DCM, code: '110113', display: 'Security Alert' };
const OAUTH_TOKEN = { system: 'http://hie-hub.dev/audit', code: 'oauth-token', display: 'OAuth token issuance' };

/**
 * Records the authorization server's events (token issued or refused, login, failed login) in the audit chain.
 * The authorization server answers its client without waiting for the record (its hook must not block); a record
 * that cannot be written is logged as an error.
 */
@Injectable()
export class AuthEventRecorder implements OnModuleInit, OnModuleDestroy {
  private off?: () => void;

  constructor(
    private readonly events: AuthEvents,
    private readonly trail: AuditTrail,
    @Inject(HUB_LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.off = this.events.on((e) => {
      this.trail.record(toTrailEvent(e)).catch((err) => this.log.error({ err, event: e.type }, 'recording an authorization event failed'));
    });
  }

  onModuleDestroy(): void {
    this.off?.();
  }
}

function toTrailEvent(e: AuthEvent) {
  const login = e.type === 'login' || e.type === 'login-failed';
  const failed = e.outcome === 'failure';
  return {
    type: login ? USER_AUTHENTICATION : failed ? SECURITY_ALERT : USER_AUTHENTICATION,
    subtype: [login ? LOGIN : OAUTH_TOKEN],
    action: 'E' as const,
    outcome: failed ? ('4' as const) : ('0' as const),
    outcomeDesc: failed ? `${e.type}${e.error ? `: ${e.error}` : ''}` : `${e.type}${e.grantType ? ` (${e.grantType})` : ''}`,
    principal: { kind: e.user ? ('user' as const) : ('client' as const), clientId: e.clientId, userId: e.user, address: e.address },
    door: 'oauth',
  };
}
