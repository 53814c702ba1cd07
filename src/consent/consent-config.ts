import type { BasePolicy } from './consent-rules.js';

/** Consent settings from the environment (the base policy can be changed later with `$consent-policy`). */
export interface ConsentConfig {
  /** HUB_CONSENT=off turns enforcement off entirely (for the side-by-side benchmark only) */
  enabled: boolean;
  /** HUB_CONSENT_BASE: the base policy set at start; unset = keep what the database has (opt-out at first) */
  base?: BasePolicy;
  /** HUB_CONSENT_HIDE_DENIED=true: a denied read answers 404 (existence not revealed) instead of 403 */
  hideDenied?: boolean;
  /** HUB_BREAK_GLASS_MINUTES: default (and longest) length of a break-the-glass session */
  breakGlassMinutes: number;
  /** HUB_CONSENT_LABELS: a JSON file replacing the default sensitive code lists (see sensitive-codes.ts) */
  labelsFile?: string;
}

export const CONSENT_CONFIG = Symbol('CONSENT_CONFIG');

export function loadConsentConfig(env: NodeJS.ProcessEnv = process.env): ConsentConfig {
  const base = env.HUB_CONSENT_BASE;
  if (base && base !== 'opt-in' && base !== 'opt-out') throw new Error(`HUB_CONSENT_BASE must be opt-in or opt-out, got "${base}"`);
  const minutes = Number(env.HUB_BREAK_GLASS_MINUTES ?? 60);
  if (!Number.isFinite(minutes) || minutes <= 0) throw new Error(`HUB_BREAK_GLASS_MINUTES must be a positive number, got "${env.HUB_BREAK_GLASS_MINUTES}"`);
  const hide = env.HUB_CONSENT_HIDE_DENIED;
  return {
    enabled: !/^(off|false|0|no)$/i.test(env.HUB_CONSENT ?? ''),
    base: base as BasePolicy | undefined,
    hideDenied: hide === undefined || hide === '' ? undefined : /^(true|1|yes|on)$/i.test(hide),
    breakGlassMinutes: minutes,
    labelsFile: env.HUB_CONSENT_LABELS || undefined,
  };
}
