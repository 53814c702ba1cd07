import { randomUUID } from 'node:crypto';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { Db, type Queryable, type Tx } from '../modules/database/db.js';
import { FhirError } from '../fhir/operation-outcome.js';
import { isGoldenRecord } from '../fhir/search/extract/managed-records.js';
import { ResourceStore } from '../fhir/store/resource-store.js';
import { ResourceWriteHooks, type ResourceWriteHook, type WrittenResource } from '../fhir/store/write-hooks.js';
import { blockingKeys } from './blocking-keys.js';
import { scorePair, type MatchScore } from './fellegi-sunter.js';
import { buildGoldenRecord, sameContent } from './golden-record.js';
import { bestPerGolden, decideLinks, type CandidateGolden } from './link-decision.js';
import { loadRules, type MatchingRules } from './matching-rules.js';
import { goldenInputs, saveSourceAndFindCandidates, writeSourceLinks, type NewLink } from './hot-path-sql.js';
import { MpiRepository, type MpiLink } from './mpi-repository.js';
import { extractFeatures, type PatientFeatures } from './patient-features.js';

export function breakdownOf(score: MatchScore): MpiLink['breakdown'] {
  return { comparisons: score.breakdown.map((o) => ({ ...o, weight: Math.round(o.weight * 100) / 100 })), ...(score.swappedNames ? { swappedNames: true } : {}) };
}

/**
 * The master patient index: matches every source Patient written (any door, in the write's own transaction, as a
 * resource-store write hook), keeps one golden Patient per person and the links between them. Link changes made
 * by reviewers (MANUAL) are never undone by automatic matching. Review actions live in review-actions.ts.
 */
@Injectable()
export class MasterPatientIndex implements ResourceWriteHook, OnModuleInit {
  readonly name = 'master-patient-index';
  readonly resourceTypes = ['Patient'] as const;
  readonly repo = new MpiRepository();
  rules: MatchingRules = loadRules();
  /** transactions in which the MPI itself is writing golden records (its own writes are not matched) */
  private readonly ownWrites = new WeakSet<object>();

  constructor(
    readonly db: Db,
    readonly store: ResourceStore,
    private readonly hooks: ResourceWriteHooks,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reloadRules();
    this.hooks.register(this);
  }

  /** Rules file + m/u saved by `mpi estimate`. */
  async reloadRules(): Promise<void> {
    this.rules = loadRules(await this.repo.savedParameters(this.db));
  }

  async afterWrite(tx: Tx, writes: WrittenResource[]): Promise<void> {
    if (this.ownWrites.has(tx)) return;
    for (const w of writes) await this.refuseGoldenWrite(tx, w);
    // every key of every record of this write, locked at once (one ordered acquisition: no deadlock between batches)
    const features = writes.map((w) => (w.resource ? extractFeatures(this.rules, w.resource) : undefined));
    const keys = writes.flatMap((w, i) => (features[i] ? blockingKeys(this.rules, features[i]!).map((k) => `${k.kind}:${k.value}`) : [`delete:${w.stored.id}`]));
    await this.repo.lockForMatching(tx, keys);
    for (const [i, w] of writes.entries()) {
      if (w.resource) await this.matchSource(tx, w.stored.id, w.resource, features[i]);
      else await this.sourceDeleted(tx, w.stored.id);
    }
  }

  /** Golden records are the MPI's: clients may read them, never write them (nor create look-alikes). */
  private async refuseGoldenWrite(tx: Tx, w: WrittenResource): Promise<void> {
    if (w.resource && isGoldenRecord(w.resource)) {
      throw new FhirError(403, 'The tag http://hie-hub.dev/mpi|golden is reserved for golden records of the master patient index', 'forbidden');
    }
    if (w.stored.versionId > 1 && (await this.repo.isGolden(tx, w.stored.id))) {
      throw new FhirError(403, `Patient/${w.stored.id} is a golden record of the master patient index and is read-only; change its source records instead`, 'forbidden');
    }
  }

  /** Runs fn with the MPI's own store writes exempt from matching and from the read-only rule. */
  async asMpi<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
    this.ownWrites.add(tx);
    try {
      return await fn();
    } finally {
      this.ownWrites.delete(tx);
    }
  }

  /** Scores a record against its blocking candidates and decides (candidate retrieval is one statement). */
  async candidatesFor(q: Queryable, features: PatientFeatures, excludeId?: string): Promise<CandidateGolden[]> {
    const keys = blockingKeys(this.rules, features);
    const [candidates, tf] = await Promise.all([this.repo.candidates(q, this.rules, keys, excludeId), this.repo.termFrequencies(q, this.rules, features)]);
    return bestPerGolden(candidates.map((c) => ({ sourceId: c.patientId, goldenId: c.goldenId, score: scorePair(this.rules, features, c.features, tf) })));
  }

  /** (Re)matches one source record; manual MATCH links stand, only the golden record is refreshed. */
  async matchSource(tx: Tx, id: string, resource: any, features: PatientFeatures = extractFeatures(this.rules, resource)): Promise<void> {
    const state = await saveSourceAndFindCandidates(tx, this.rules, id, features, blockingKeys(this.rules, features));
    const { candidates, tf } = state;
    const current = state.links.find((l) => l.state === 'MATCH');
    if (current?.origin === 'MANUAL') return this.refreshGolden(tx, current.goldenId);
    const rejected = new Set(state.links.filter((l) => l.state === 'NO_MATCH').map((l) => l.goldenId));
    const scored = candidates.map((c) => ({ sourceId: c.patientId, goldenId: c.goldenId, score: scorePair(this.rules, features, c.features, tf) }));
    const decision = decideLinks(this.rules, bestPerGolden(scored), rejected);
    let target: string;
    let isNew = false;
    if (decision.match) target = decision.match.goldenId;
    else if (current && !state.goldenShared) target = current.goldenId; // keeps its own golden record
    else (target = randomUUID()), (isNew = true);
    const manual = new Set(state.links.filter((l) => l.origin === 'MANUAL').map((l) => l.goldenId));
    const links: NewLink[] = [
      { goldenId: target, state: 'MATCH', score: decision.match?.score.probability ?? null, breakdown: decision.match ? { ...breakdownOf(decision.match.score), viaSource: decision.match.viaSourceId } : null },
      ...decision.possible
        .filter((p) => p.goldenId !== target && !manual.has(p.goldenId))
        .map((p): NewLink => ({ goldenId: p.goldenId, state: 'POSSIBLE_MATCH', score: p.score.probability, breakdown: { ...breakdownOf(p.score), viaSource: p.viaSourceId } })),
    ];
    const keep = new Set(links.map((l) => l.goldenId));
    // a previous MATCH elsewhere goes even when that golden record stays a POSSIBLE_MATCH (one MATCH per source)
    const stale = state.links
      .filter((l) => (l.state === 'MATCH' && l.goldenId !== target) || (l.state === 'POSSIBLE_MATCH' && l.origin === 'AUTO' && !keep.has(l.goldenId)))
      .map((l) => l.goldenId);
    await writeSourceLinks(tx, id, links, stale, isNew);
    for (const d of decision.duplicates) await this.flagDuplicate(tx, target, d);
    if (isNew) await this.writeGolden(tx, target, buildGoldenRecord(target, [{ id, resource, lastUpdated: resource.meta?.lastUpdated ?? '' }]), undefined, true);
    else await this.refreshGolden(tx, target);
    if (current && current.goldenId !== target) await this.refreshGolden(tx, current.goldenId);
  }

  /** Two golden records a source matched both of: flagged for review unless a reviewer already said they differ. */
  private async flagDuplicate(tx: Tx, goldenId: string, other: CandidateGolden): Promise<void> {
    const existing = [await this.repo.link(tx, other.goldenId, goldenId), await this.repo.link(tx, goldenId, other.goldenId)].filter(Boolean) as MpiLink[];
    if (existing.some((l) => l.origin === 'MANUAL' || l.state === 'POSSIBLE_DUPLICATE')) return;
    await this.repo.setLink(tx, { sourceId: other.goldenId, goldenId, state: 'POSSIBLE_DUPLICATE', origin: 'AUTO', score: other.score.probability, breakdown: { ...breakdownOf(other.score), viaSource: other.viaSourceId } as any });
  }

  async sourceDeleted(tx: Tx, id: string): Promise<void> {
    await this.repo.removeRecord(tx, this.rules, id);
    const golden = await this.repo.goldenOf(tx, id);
    await this.repo.removeSourceLinks(tx, id);
    if (golden) await this.refreshGolden(tx, golden);
  }

  /**
   * Rebuilds a golden record from its MATCH sources (survivorship) and writes it when it changed; a golden record
   * left without sources is deleted.
   */
  async refreshGolden(tx: Tx, goldenId: string): Promise<void> {
    // concurrent matches may refresh one golden record: the row lock first, so the inputs read next are current
    await tx.query({ name: 'mpi_lock_golden', text: `SELECT 1 FROM resource WHERE resource_type = 'Patient' AND id = $1 FOR UPDATE`, values: [goldenId] });
    const inputs = await goldenInputs(tx, goldenId);
    if (!inputs.sources.length) {
      await this.repo.removeGolden(tx, goldenId);
      if (inputs.current) await this.asMpi(tx, () => this.store.delete(tx, 'Patient', goldenId));
      return;
    }
    await this.writeGolden(tx, goldenId, buildGoldenRecord(goldenId, inputs.sources, inputs.replaces), inputs.current);
  }

  private async writeGolden(tx: Tx, goldenId: string, golden: any, current: any | undefined, registered = false): Promise<void> {
    if (current && sameContent(current, golden)) return;
    if (!current && !registered) await this.repo.addGolden(tx, goldenId);
    // a brand-new golden record is a plain insert; anything else (including a resurrected id) an update
    if (registered) await this.asMpi(tx, () => this.store.create(tx, 'Patient', golden, goldenId, 'PUT'));
    else await this.asMpi(tx, () => this.store.update(tx, 'Patient', goldenId, golden, { method: 'PUT' }));
  }
}
