/**
 * FHIR dates as the instant ranges they denote: `2020` is all of 2020, `2020-03-04T10:00` is that minute.
 * Values without a time zone are taken as UTC (the hub has no other local time to assume).
 */

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface InstantRange {
  /** first millisecond, epoch ms */
  lo: number;
  /** last millisecond, epoch ms */
  hi: number;
}

/** The range a FHIR date/dateTime/instant covers, or undefined when the text is not a FHIR date. */
export function dateRange(text: string): InstantRange | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const y = +m[1];
  if (m[2] === undefined) return { lo: Date.UTC(y, 0, 1), hi: Date.UTC(y + 1, 0, 1) - 1 };
  const mo = +m[2] - 1;
  if (mo < 0 || mo > 11) return undefined;
  if (m[3] === undefined) return { lo: Date.UTC(y, mo, 1), hi: Date.UTC(y, mo + 1, 1) - 1 };
  const d = +m[3];
  if (d < 1 || d > 31) return undefined;
  if (m[4] === undefined) return { lo: Date.UTC(y, mo, d), hi: Date.UTC(y, mo, d + 1) - 1 };
  const h = +m[4];
  const mi = +m[5];
  if (h > 24 || mi > 59) return undefined;
  const offset = tzOffsetMs(m[8]);
  if (offset === undefined) return undefined;
  if (m[6] === undefined) {
    const lo = Date.UTC(y, mo, d, h, mi) - offset;
    return { lo, hi: lo + 60_000 - 1 };
  }
  const s = +m[6];
  if (s > 60) return undefined;
  if (m[7] === undefined) {
    const lo = Date.UTC(y, mo, d, h, mi, s) - offset;
    return { lo, hi: lo + 999 };
  }
  const frac = m[7];
  const ms = +(frac + '00').slice(0, 3);
  const lo = Date.UTC(y, mo, d, h, mi, s, ms) - offset;
  // sub-millisecond precision collapses to the millisecond (timestamptz keeps microseconds; ms is enough here)
  return { lo, hi: lo };
}

function tzOffsetMs(tz: string | undefined): number | undefined {
  if (!tz || tz === 'Z') return 0;
  const sign = tz[0] === '-' ? -1 : 1;
  const hh = +tz.slice(1, 3);
  const mm = +tz.slice(4, 6);
  if (hh > 14 || mm > 59) return undefined;
  return sign * (hh * 60 + mm) * 60_000;
}

export const MIN_INSTANT = -8_640_000_000_000_000;
export const MAX_INSTANT = 8_640_000_000_000_000;

/** ISO text for PostgreSQL timestamptz; the open ends of a Period become ±infinity. */
export function isoInstant(ms: number): string {
  if (ms <= MIN_INSTANT) return '-infinity';
  if (ms >= MAX_INSTANT) return 'infinity';
  return new Date(ms).toISOString();
}
