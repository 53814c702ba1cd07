import type { Tx } from '../modules/database/db.js';
import { FhirError } from '../fhir/operation-outcome.js';
import { redirectedGoldenRecord } from './golden-record.js';
import type { MasterPatientIndex } from './master-patient-index.js';
import { readPatients, type MpiLink } from './mpi-repository.js';

/**
 * What a reviewer can decide (the admin operations): accept or reject a possible match or duplicate, merge two
 * golden records, undo a merge. Every decision is a MANUAL link, which automatic matching never changes.
 */
export class ReviewActions {
  constructor(private readonly mpi: MasterPatientIndex) {}

  private get repo() {
    return this.mpi.repo;
  }

  private async activeGolden(tx: Tx, id: string): Promise<void> {
    const res = await tx.query(`SELECT status FROM mpi_golden WHERE golden_id = $1`, [id]);
    if (!res.rows.length) throw FhirError.notFound(`Patient/${id} is not a golden record of the master patient index`);
    if (res.rows[0].status !== 'active') throw FhirError.conflict(`Golden record Patient/${id} was merged into another one`);
  }

  private async source(tx: Tx, id: string): Promise<void> {
    if (!(await this.repo.features(tx, id))) throw FhirError.notFound(`Patient/${id} is not a source record of the master patient index`);
  }

  /** Accepts a POSSIBLE_MATCH (or links any source to any golden record): MATCH, MANUAL. A POSSIBLE_DUPLICATE accepted is a merge. */
  async accept(tx: Tx, sourceId: string, goldenId: string): Promise<MpiLink> {
    await this.repo.lock(tx);
    const existing = await this.repo.link(tx, sourceId, goldenId);
    if (existing?.state === 'POSSIBLE_DUPLICATE') return this.merge(tx, sourceId, goldenId);
    await this.source(tx, sourceId);
    await this.activeGolden(tx, goldenId);
    const previous = await this.repo.goldenOf(tx, sourceId);
    await this.repo.setLink(tx, { sourceId, goldenId, state: 'MATCH', origin: 'MANUAL', score: existing?.score ?? null, breakdown: existing?.breakdown ?? null });
    await this.mpi.refreshGolden(tx, goldenId);
    if (previous && previous !== goldenId) await this.mpi.refreshGolden(tx, previous);
    return (await this.repo.link(tx, sourceId, goldenId))!;
  }

  /**
   * Rejects a link: POSSIBLE_MATCH or MATCH → NO_MATCH, MANUAL (a rejected MATCH sends the source through matching
   * again without that golden record); POSSIBLE_DUPLICATE → NO_MATCH between the two golden records.
   */
  async reject(tx: Tx, sourceId: string, goldenId: string): Promise<MpiLink> {
    await this.repo.lock(tx);
    const existing = await this.repo.link(tx, sourceId, goldenId);
    if (!existing || existing.state === 'REDIRECT') throw FhirError.notFound(`No link between Patient/${sourceId} and Patient/${goldenId} to reject`);
    await this.repo.setLink(tx, { ...existing, state: 'NO_MATCH', origin: 'MANUAL' });
    if (existing.state === 'MATCH') {
      const [src] = await readPatients(tx, [sourceId]);
      if (src) await this.mpi.matchSource(tx, sourceId, src.resource);
      await this.mpi.refreshGolden(tx, goldenId);
    }
    return (await this.repo.link(tx, sourceId, goldenId))!;
  }

  /** Merges golden record `from` into `into`: its sources move (MANUAL), `from` becomes inactive and REDIRECTs. */
  async merge(tx: Tx, from: string, into: string): Promise<MpiLink> {
    await this.repo.lock(tx);
    if (from === into) throw FhirError.badRequest('A golden record cannot be merged into itself');
    await this.activeGolden(tx, from);
    await this.activeGolden(tx, into);
    const sources = await this.repo.matchedSources(tx, from);
    for (const s of sources) await this.repo.setLink(tx, { sourceId: s, goldenId: into, state: 'MATCH', origin: 'MANUAL', score: null, breakdown: null });
    // review links that pointed at the retired record are moot
    await tx.query(`DELETE FROM mpi_link WHERE (golden_id = $1 AND state IN ('POSSIBLE_MATCH', 'POSSIBLE_DUPLICATE')) OR (source_id = $1 AND state = 'POSSIBLE_DUPLICATE')`, [from]);
    await tx.query(`DELETE FROM mpi_link WHERE source_id = $1 AND golden_id = $2`, [into, from]);
    await this.repo.setLink(tx, { sourceId: from, goldenId: into, state: 'REDIRECT', origin: 'MANUAL', score: null, breakdown: { sources } });
    await this.repo.setGoldenStatus(tx, from, 'redirected');
    await this.mpi.asMpi(tx, () => this.mpi.store.update(tx, 'Patient', from, redirectedGoldenRecord(from, into), { method: 'PUT' }));
    await this.mpi.refreshGolden(tx, into);
    return (await this.repo.link(tx, from, into))!;
  }

  /** Undoes a merge: the sources that came from `goldenId` go back to it, and the two are marked as not one person. */
  async unmerge(tx: Tx, goldenId: string): Promise<MpiLink> {
    await this.repo.lock(tx);
    const redirect = (await this.repo.linksOf(tx, goldenId)).find((l) => l.sourceId === goldenId && l.state === 'REDIRECT');
    if (!redirect) throw FhirError.notFound(`Patient/${goldenId} is not a merged golden record`);
    const into = redirect.goldenId;
    await this.repo.deleteLink(tx, goldenId, into);
    await this.repo.setGoldenStatus(tx, goldenId, 'active');
    for (const s of redirect.breakdown?.sources ?? []) {
      if ((await this.repo.goldenOf(tx, s)) === into) await this.repo.setLink(tx, { sourceId: s, goldenId, state: 'MATCH', origin: 'MANUAL', score: null, breakdown: null });
    }
    await this.repo.setLink(tx, { sourceId: goldenId, goldenId: into, state: 'NO_MATCH', origin: 'MANUAL', score: null, breakdown: null });
    await this.mpi.refreshGolden(tx, goldenId);
    await this.mpi.refreshGolden(tx, into);
    return (await this.repo.link(tx, goldenId, into))!;
  }
}
