/** Positional parameters and table aliases of one SQL statement under construction. Values never enter the text. */
export class SqlParams {
  readonly values: unknown[] = [];
  private aliases = 0;

  /** `$n` for a value, with an optional cast (`$3::text[]`). */
  p(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }

  /** Position to roll back to when a condition under construction is abandoned (lenient handling). */
  mark(): number {
    return this.values.length;
  }

  reset(mark: number): void {
    this.values.length = mark;
  }

  alias(prefix: string): string {
    return `${prefix}${++this.aliases}`;
  }
}

/** The resources a condition is about: a `resource` row alias and the types it may have. */
export interface Scope {
  alias: string;
  types: string[];
  /**
   * The alias is an anchoring index row (only its `rid` may be used), and each condition is checked per anchor row
   * in the order given: sub-queries end in `OFFSET 0` so PostgreSQL keeps them as per-row probes (see `patientAnchor`
   * in patient-anchor.ts) instead of hashing every match of the value.
   */
  probe?: boolean;
}

/** ` OFFSET 0` inside the EXISTS of a probe-scope condition (keeps it a per-row sub-plan). */
export const probeTail = (scope: Scope): string => (scope.probe ? ' OFFSET 0' : '');

/** Escapes LIKE wildcards (the default escape character is a backslash). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function orJoin(parts: string[]): string {
  if (!parts.length) return 'false';
  return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}

export function andJoin(parts: string[]): string {
  if (!parts.length) return 'true';
  return parts.length === 1 ? parts[0] : `(${parts.join(' AND ')})`;
}

/**
 * `col = 'Observation'` / `col IN (...)` with the resource types written into the text. Types come from the
 * registry (never from the request as such), and literal types let a cached generic plan use the column statistics
 * of each type, which a parameter would hide.
 */
export function typeIn(col: string, types: string[]): string {
  for (const t of types) if (!/^[A-Z][A-Za-z]{0,63}$/.test(t)) throw new Error(`not a resource type: ${t}`);
  const unique = [...new Set(types)];
  return unique.length === 1 ? `${col} = '${unique[0]}'` : `${col} IN (${unique.map((t) => `'${t}'`).join(', ')})`;
}
