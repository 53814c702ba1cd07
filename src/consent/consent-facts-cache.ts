import type { LiveFacts } from '../fhir/search/query/consent-condition.js';
import type { ConsentContext } from './consent-context.js';

/** What the statement that decided with kept facts read in its own snapshot (`validatedContextExpression`). */
export interface ValidatedContext {
  gen: string;
  /** the statement's time, epoch milliseconds by the database's clock */
  now: number;
  denials: unknown;
}

/**
 * Requesters' consent facts — the base policy, the user's break-the-glass sessions, the practitioner's
 * PractitionerRoles — kept from one search to the next, and never trusted unchecked. A search decided with kept facts
 * also reads, in the snapshot of the statement that decides, the consent generation and the time; the facts held
 * for that statement when the generation is the one they were read at (every change of a policy, a session or a
 * PractitionerRole moves it on, in the change's own transaction, whichever hub process makes it) and none of the
 * user's sessions has started or ended since. Otherwise the consent stage throws the result away and decides again
 * with live facts. So a change decides the very next request, as without this cache; the cache only spares each
 * statement reading the facts (bench/RESULTS.md). Consent rules are never kept: every statement reads them. Only
 * facts read outside transactions are kept (the consent stage), so a kept generation is always a committed one.
 */
export class ConsentFactsCache {
  private readonly kept = new Map<string, ConsentContext>();

  constructor(private readonly max = 10_000) {}

  /** Facts kept for this requester (policy, sessions, roles; never denials, which are per search). */
  get(live: LiveFacts): ConsentContext | undefined {
    return this.kept.get(key(live));
  }

  /** Keeps a context read live (it carries the generation it was read at); one without a generation is not kept. */
  put(live: LiveFacts, context: ConsentContext): void {
    if (!context.generation) return;
    if (this.kept.size >= this.max) this.kept.clear();
    this.kept.set(key(live), { ...context, denials: [] });
  }

  forget(live: LiveFacts): void {
    this.kept.delete(key(live));
  }

  /** Whether kept facts held for the statement that reported `seen`. */
  static held(kept: ConsentContext, seen: ValidatedContext | undefined): seen is ValidatedContext {
    const g = kept.generation;
    return !!g && !!seen && seen.gen === g.gen && (g.nextChange === null || Number(seen.now) < g.nextChange);
  }
}

function key(live: LiveFacts): string {
  return `${live.userId ?? ''}\u0000${live.practitioner ?? ''}`;
}
