import { PRID_UNKNOWN } from '../index/search-index-writer.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import type { SearchRequest } from '../search-engine.js';
import { pidIn } from './conditions/leaf-conditions.js';
import { compartmentPids, type FilterCompiler } from './filter-compiler.js';
import type { ParsedSearch } from './search-request-parser.js';
import type { Scope, SqlParams } from './sql-params.js';

/** A single local patient id, or `Patient/id`, as a reference value (no version, no URL, no list). */
const ANCHOR_ID = /^(Patient\/)?[A-Za-z0-9\-.]{1,64}$/;

/**
 * What a search is anchored on: the filter (its index in `parsed.filters`), compartment or restriction that names
 * the patient; the token filter whose rows drive it, if any; the scope the other filters are probed in (the anchor
 * row's alias); and the condition it becomes, given those probes and the driver's condition.
 */
export interface PatientAnchor {
  from: 'compartment' | 'restriction' | number;
  driver?: number;
  scope: Scope;
  statement: (probes: string[], driver?: string) => string;
}

/**
 * A search held to one patient's resources of one type — `Patient/x/Observation`, a patient token's single
 * patient, or `Observation?patient=x` (a reference parameter of the Patient compartment, or one that can only
 * point at Patients) — is anchored on that patient's reference rows: PostgreSQL reads them from
 * `sp_reference (pid, tid)` and checks the other filters on each row's rid, one after another (token and
 * reference equalities first, dates and negations last; each a per-row probe that stops the chain when it
 * fails), before it looks up the few survivors in `resource`. Written flat, every filter is a semi-join on the
 * resource row, so PostgreSQL first joins `resource` for every one of the patient's resources, and a cached
 * generic plan may hash every match of a common code (43,313 rows, 390 ms, at 1M) instead of probing ~100 rows.
 * A patient's resources are few (hundreds, rarely thousands), so probing them all is bounded; references to
 * other targets (an Organization, a Practitioner) may have millions of rows and are left to the planner.
 */
export function patientAnchor(registry: SearchParamRegistry, sql: SqlParams, scope: Scope, request: SearchRequest, parsed: ParsedSearch, compiler: FilterCompiler): PatientAnchor | undefined {
  // (a Patient's own compartment membership is by id, or `link`: nothing to anchor on)
  if (scope.types.length !== 1 || scope.types[0] === 'Patient') return undefined;
  const pids = compartmentPids(registry, 'Patient', scope.types);
  if (!pids.length) return undefined;
  const a = sql.alias('a');
  const anchorScope: Scope = { alias: a, types: scope.types, probe: true };
  const make = (from: 'compartment' | 'restriction' | number, anchorPids: number[], idCond: (alias: string) => string, id?: string) => {
    // `patient=x` with a token filter as well: that filter's rows are the anchor (see `driven`)
    const driver = id === undefined ? undefined : parsed.filters.findIndex(([name], j) => j !== from && compiler.isTokenDriver(anchorScope, name));
    return {
      from,
      driver: driver !== undefined && driver >= 0 ? driver : undefined,
      scope: anchorScope,
      statement: (probes: string[], driverCond?: string) => {
        // CASE keeps the order: a probe runs only for rows that passed the ones before it
        const chain = probes.reduceRight((acc: string | undefined, p) => (acc === undefined ? p : `CASE WHEN ${p} THEN ${acc} ELSE false END`), undefined);
        const rest = chain ? ` AND ${chain}` : '';
        if (driverCond && id !== undefined) return driven(sql, scope, a, driverCond, anchorPids, idCond, id, rest);
        return `EXISTS (SELECT 1 FROM sp_reference ${a} WHERE ${a}.rid = ${scope.alias}.rid AND ${pidIn(sql, a, anchorPids)} AND ${idCond(a)}${rest})`;
      },
    };
  };
  // the same rows as the condition it replaces (FilterCompiler.inCompartments, referenceCondition); `p` the bound id
  const typed = (p: string) => (x: string) => `${x}.tid = ${p} AND ${x}.rtype = 'Patient'`;
  if (request.compartment?.type === 'Patient') return make('compartment', pids, typed(sql.p(request.compartment.id)));
  if (request.restriction?.patients?.length === 1) return make('restriction', pids, typed(sql.p(request.restriction.patients[0])));
  const i = parsed.filters.findIndex(([name, value]) => {
    const [code, modifier, more] = name.split(':');
    const def = registry.get(scope.types[0], code);
    const ofPatients = def?.type === 'reference' && (pids.includes(def.pid) || (def.targets.length === 1 && def.targets[0] === 'Patient'));
    return ofPatients && more === undefined && (modifier === undefined || modifier === 'Patient') && ANCHOR_ID.test(value);
  });
  if (i < 0) return undefined;
  const [name, value] = parsed.filters[i];
  const [code, modifier] = name.split(':');
  const id = value.replace(/^Patient\//, '');
  const def = registry.get(scope.types[0], code)!;
  const p = sql.p(id);
  const idCond = value !== id || modifier ? typed(p) : (x: string) => `${x}.tid = ${p}`;
  // only the type's `patient` parameter: the one whose Patient the token rows carry (`sp_token.prid`)
  return make(i, [def.pid], idCond, def.code === 'patient' ? p : undefined);
}

/**
 * `Observation?patient=x&code=y…`: the patient's resources with that token are read from the token index itself
 * — `(pid, code, prid, sys)`, its rows carrying the rid of the Patient their resource's `patient` parameter points
 * to (search-index-writer.ts `PRID_UNKNOWN`) — instead of probing every one of the patient's resources for the
 * token (a Synthea patient has ~100 Observations; ~8 have a given code). The other filters are probed on those
 * rows as before. Rows whose resource points to several Patients, or to one not stored when they were written
 * (`prid` -1), are matched the old way, through the reference rows (an index range that is empty unless such
 * rows exist). The page is then read by rid from the matches (`rid = ANY(…)`), in order.
 */
function driven(sql: SqlParams, scope: Scope, a: string, driverCond: string, anchorPids: number[], idCond: (alias: string) => string, id: string, rest: string): string {
  const h = sql.alias('h');
  const patient = `(SELECT p.rid FROM resource p WHERE p.resource_type = 'Patient' AND p.id = ${id})`;
  // the same alias in both branches (sibling scopes), so the probes written for it serve both
  const known = `SELECT ${a}.rid FROM sp_token ${a} WHERE ${driverCond} AND ${a}.prid = ${patient}${rest}`;
  const unknown = `SELECT ${a}.rid FROM sp_token ${a} WHERE ${driverCond} AND ${a}.prid = ${PRID_UNKNOWN}
                   AND EXISTS (SELECT 1 FROM sp_reference ${h} WHERE ${h}.rid = ${a}.rid AND ${pidIn(sql, h, anchorPids)} AND ${idCond(h)})${rest}`;
  return `${scope.alias}.rid = ANY(ARRAY(${known} UNION ALL ${unknown}))`;
}
