import type { Db } from '../modules/database/db.js';
import { inTransaction } from '../modules/database/db.js';
import type { OperationHandler } from '../fhir/engine/operation-registry.js';
import { FhirError } from '../fhir/operation-outcome.js';
import type { Interaction, InteractionResult } from '../fhir/pipeline/interaction.js';
import type { InteractionContext } from '../fhir/pipeline/pipeline.js';
import { FilterCompiler } from '../fhir/search/query/filter-compiler.js';
import type { SearchEngine } from '../fhir/search/search-engine.js';
import type { MasterPatientIndex } from './master-patient-index.js';
import type { MpiLink } from './mpi-repository.js';
import { readPatients } from './mpi-repository.js';
import { extractFeatures } from './patient-features.js';
import type { RelinkJobs } from './relink-jobs.js';
import { ReviewActions } from './review-actions.js';

const MATCH_GRADE = 'http://hl7.org/fhir/StructureDefinition/match-grade';
/** Candidates below this probability are not worth returning from $match. */
const MIN_MATCH_PROBABILITY = 0.01;

/** A parameter from the query string or a Parameters body (any value[x]; a Reference gives its id). */
export function param(ix: Interaction, name: string): any {
  const q = ix.params.find(([k]) => k === name)?.[1];
  if (q !== undefined) return q;
  const body: any = ix.body;
  const p = body?.resourceType === 'Parameters' && Array.isArray(body.parameter) ? body.parameter.find((x: any) => x?.name === name) : undefined;
  if (!p) return undefined;
  if (p.resource) return p.resource;
  const key = Object.keys(p).find((k) => k.startsWith('value'));
  return key ? p[key] : undefined;
}

function patientId(ix: Interaction, name: string): string {
  const v = param(ix, name);
  const ref = typeof v === 'string' ? v : v?.reference;
  if (typeof ref !== 'string' || !ref) throw FhirError.badRequest(`Parameter "${name}" (a Patient id or reference) is required`);
  const id = ref.replace(/^.*Patient\//, '');
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw FhirError.badRequest(`Parameter "${name}" is not a Patient reference: ${ref}`);
  return id;
}

/**
 * Review and merge decisions change who is whom for everyone: they need a system- or user-level wildcard scope
 * (`system/*.*`, `user/*.*`, or their SMART v2 forms such as `system/*.cruds`).
 */
function requireAdmin(ix: Interaction): void {
  if (!ix.principal.scopes.some((s) => /^(system|user)\/\*\./.test(s))) {
    throw new FhirError(403, 'The master patient index administration operations need a system/*.* or user/*.* scope', 'forbidden');
  }
}

export function linkParameters(l: MpiLink): any {
  const part: any[] = [
    { name: 'source', valueReference: { reference: `Patient/${l.sourceId}` } },
    { name: 'golden', valueReference: { reference: `Patient/${l.goldenId}` } },
    { name: 'state', valueCode: l.state },
    { name: 'origin', valueCode: l.origin },
  ];
  if (l.score !== null && l.score !== undefined) part.push({ name: 'score', valueDecimal: Math.round(l.score * 1e6) / 1e6 });
  for (const c of l.breakdown?.comparisons ?? []) {
    part.push({ name: 'comparison', part: [{ name: 'name', valueString: c.comparison }, { name: 'level', valueString: c.level }, { name: 'weight', valueDecimal: c.weight }] });
  }
  if (l.breakdown?.swappedNames) part.push({ name: 'swappedNames', valueBoolean: true });
  part.push({ name: 'updated', valueInstant: l.updated });
  return { name: 'link', part };
}

const parameters = (links: MpiLink[]) => ({ resourceType: 'Parameters', ...(links.length ? { parameter: links.map(linkParameters) } : {}) });

/** The MPI's FHIR operations: $match, $ihe-pix, $mpi-everything and the review/administration operations. */
export function mpiOperations(mpi: MasterPatientIndex, db: Db, search: SearchEngine, jobs: RelinkJobs): OperationHandler[] {
  const review = new ReviewActions(mpi);
  const q = (ctx: InteractionContext) => ctx.tx ?? db;
  const admin = (name: string, run: (ix: Interaction, ctx: InteractionContext) => Promise<MpiLink>): OperationHandler => ({
    name,
    definition: `urn:hie-hub:OperationDefinition/${name}`,
    levels: ['type'],
    resourceTypes: ['Patient'],
    affectsState: true,
    async execute(ix, ctx) {
      requireAdmin(ix);
      return { status: 200, resource: parameters([await run(ix, ctx)]) };
    },
  });

  const match: OperationHandler = {
    name: 'match',
    definition: 'http://hl7.org/fhir/OperationDefinition/Patient-match',
    levels: ['type'],
    resourceTypes: ['Patient'],
    affectsState: false,
    async execute(ix, ctx) {
      const resource = param(ix, 'resource');
      if (resource?.resourceType !== 'Patient') throw FhirError.badRequest('Parameter "resource" must be a Patient');
      const onlyCertain = String(param(ix, 'onlyCertainMatches') ?? 'false') === 'true';
      const countRaw = param(ix, 'count');
      const count = countRaw === undefined ? 10 : Number(countRaw);
      if (!Number.isInteger(count) || count < 1) throw FhirError.badRequest('Parameter "count" must be a positive integer');
      const { thresholds } = mpi.rules;
      let ranked = (await mpi.candidatesFor(q(ctx), extractFeatures(mpi.rules, resource)))
        .filter((c) => c.score.probability >= MIN_MATCH_PROBABILITY)
        .sort((a, b) => b.score.weight - a.score.weight);
      if (onlyCertain) ranked = ranked.filter((c) => c.score.probability >= thresholds.match);
      const allowed = ix.restriction?.patients;
      const goldens = new Map((await readPatients(q(ctx), ranked.map((c) => c.goldenId))).map((p) => [p.id, p.resource]));
      ranked = ranked.filter((c) => goldens.has(c.goldenId) && (!allowed || allowed.includes(c.goldenId) || allowed.includes(c.viaSourceId))).slice(0, count);
      const grade = (p: number) => (p >= thresholds.match ? 'certain' : p >= thresholds.possibleMatch ? 'probable' : 'possible');
      const entry = ranked.map((c) => ({
        fullUrl: `${ctx.baseUrl}/Patient/${c.goldenId}`,
        resource: goldens.get(c.goldenId),
        search: { mode: 'match', score: Math.round(c.score.probability * 1e6) / 1e6, extension: [{ url: MATCH_GRADE, valueCode: grade(c.score.probability) }] },
      }));
      return { status: 200, resource: { resourceType: 'Bundle', type: 'searchset', total: entry.length, ...(entry.length ? { entry } : {}) } };
    },
  };

  const pix: OperationHandler = {
    name: 'ihe-pix',
    definition: 'https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix',
    levels: ['type'],
    resourceTypes: ['Patient'],
    affectsState: false,
    async execute(ix, ctx) {
      const source = param(ix, 'sourceIdentifier');
      const token = typeof source === 'string' ? source : source?.system && source?.value ? `${source.system}|${source.value}` : undefined;
      if (!token || !token.includes('|')) throw FhirError.badRequest('Parameter "sourceIdentifier" (system|value) is required');
      const targetSystems: string[] = ix.params.filter(([k]) => k === 'targetSystem').map(([, v]) => v);
      const ids = await search.matchIds(q(ctx), 'Patient', `identifier=${encodeURIComponent(token)}`, 50, ix.restriction);
      if (!ids.length) throw FhirError.notFound(`No Patient has the identifier ${token}`);
      const persons = new Set<string>();
      for (const id of ids) {
        const g = await mpi.repo.goldenOf(q(ctx), id);
        for (const s of g ? await mpi.repo.matchedSources(q(ctx), g) : [id]) persons.add(s);
        if (g) persons.add(g);
      }
      const patients = await readPatients(q(ctx), [...persons].sort());
      const parameter: any[] = [];
      const seen = new Set<string>();
      for (const p of patients) {
        for (const i of p.resource.identifier ?? []) {
          const key = `${i.system}|${i.value}`;
          if (seen.has(key) || key === token || (targetSystems.length && !targetSystems.includes(i.system))) continue;
          seen.add(key);
          parameter.push({ name: 'targetIdentifier', valueIdentifier: { system: i.system, value: i.value } });
        }
      }
      for (const p of patients) parameter.push({ name: 'targetId', valueReference: { reference: `Patient/${p.id}` } });
      return { status: 200, resource: { resourceType: 'Parameters', parameter } };
    },
  };

  const everything: OperationHandler = {
    name: 'mpi-everything',
    definition: 'urn:hie-hub:OperationDefinition/mpi-everything',
    levels: ['instance'],
    resourceTypes: ['Patient'],
    affectsState: false,
    async execute(ix, ctx) {
      const id = ix.id!;
      const golden = (await mpi.repo.isGolden(q(ctx), id)) ? id : await mpi.repo.goldenOf(q(ctx), id);
      const person = golden ? [golden, ...(await mpi.repo.matchedSources(q(ctx), golden))] : [id];
      const allowed = ix.restriction?.patients;
      const patients = allowed ? person.filter((p) => allowed.includes(p)) : person;
      if (!patients.length) throw FhirError.notFound(`Patient/${id} is not known`);
      const params = ix.params.some(([k]) => k === '_type') ? ix.params : [['_type', FilterCompiler.compartmentTypes('Patient').join(',')] as [string, string], ...ix.params];
      const bundle = await search.search(q(ctx), { params, strict: ix.prefer.handling === 'strict', principal: ix.principal, baseUrl: ctx.baseUrl, restriction: { ...ix.restriction, patients } });
      // paging links repeat this operation, not a plain system search
      for (const l of bundle.link ?? []) if (typeof l.url === 'string' && l.url.startsWith(`${ctx.baseUrl}?`)) l.url = `${ctx.baseUrl}/Patient/${id}/$mpi-everything?${l.url.slice(ctx.baseUrl.length + 1)}`;
      return { status: 200, resource: bundle };
    },
  };

  const queue: OperationHandler = {
    name: 'mpi-queue',
    definition: 'urn:hie-hub:OperationDefinition/mpi-queue',
    levels: ['type'],
    resourceTypes: ['Patient'],
    affectsState: false,
    async execute(ix, ctx) {
      requireAdmin(ix);
      const count = Math.min(Number(param(ix, '_count') ?? 50) || 50, 500);
      const offset = Math.max(Number(param(ix, '_offset') ?? 0) || 0, 0);
      return { status: 200, resource: parameters(await mpi.repo.reviewQueue(q(ctx), count, offset)) };
    },
  };

  const links: OperationHandler = {
    name: 'mpi-links',
    definition: 'urn:hie-hub:OperationDefinition/mpi-links',
    levels: ['type', 'instance'],
    resourceTypes: ['Patient'],
    affectsState: false,
    async execute(ix, ctx) {
      requireAdmin(ix);
      const id = ix.id ?? patientId(ix, 'patient');
      return { status: 200, resource: parameters(await mpi.repo.linksOf(q(ctx), id)) };
    },
  };

  const inTx = <T>(ctx: InteractionContext, fn: (tx: any) => Promise<T>) => inTransaction(db, ctx.tx, fn);
  const relink: OperationHandler = {
    name: 'mpi-relink',
    definition: 'urn:hie-hub:OperationDefinition/mpi-relink',
    levels: ['system', 'type'],
    affectsState: true,
    async execute(ix, ctx): Promise<InteractionResult> {
      requireAdmin(ix);
      if (ix.resourceType && ix.resourceType !== 'Patient') throw FhirError.notFound(`Operation ${ix.resourceType}/$mpi-relink is not supported`);
      // optional `patient` parameters (repeatable): relink only those records
      const body: any = ix.body;
      const fromBody = body?.resourceType === 'Parameters' ? (body.parameter ?? []).filter((p: any) => p?.name === 'patient').map((p: any) => p.valueReference?.reference ?? p.valueString) : [];
      const patients = [...ix.params.filter(([k]) => k === 'patient').map(([, v]) => v), ...fromBody].map((r: string) => String(r).replace(/^.*Patient\//, ''));
      const id = await jobs.enqueue(q(ctx), patients);
      return { status: 202, resource: await jobs.statusParameters(q(ctx), id), headers: { 'content-location': `${ctx.baseUrl}/$mpi-relink-status?job=${id}` } };
    },
  };
  const relinkStatus: OperationHandler = {
    name: 'mpi-relink-status',
    definition: 'urn:hie-hub:OperationDefinition/mpi-relink-status',
    levels: ['system'],
    affectsState: false,
    async execute(ix, ctx) {
      requireAdmin(ix);
      const id = String(param(ix, 'job') ?? '');
      const s = await jobs.statusParameters(q(ctx), id);
      if (!s) throw FhirError.notFound(`No relink job ${id}`);
      return { status: 200, resource: s };
    },
  };

  return [
    match,
    pix,
    everything,
    queue,
    links,
    admin('mpi-accept', (ix, ctx) => inTx(ctx, (tx) => review.accept(tx, patientId(ix, 'source'), patientId(ix, 'golden')))),
    admin('mpi-reject', (ix, ctx) => inTx(ctx, (tx) => review.reject(tx, patientId(ix, 'source'), patientId(ix, 'golden')))),
    admin('mpi-merge', (ix, ctx) => inTx(ctx, (tx) => review.merge(tx, patientId(ix, 'from'), patientId(ix, 'into')))),
    admin('mpi-unmerge', (ix, ctx) => inTx(ctx, (tx) => review.unmerge(tx, patientId(ix, 'golden')))),
    relink,
    relinkStatus,
  ];
}
