import { R4Definitions } from '../../definitions/r4-definitions.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import { pidIn } from './conditions/leaf-conditions.js';
import { typeIn, type Scope, type SqlParams } from './sql-params.js';

/**
 * Who asks, as the consent decision needs it (built by the consent stage, src/consent/requester.ts). Compiled into
 * the search SQL with `consentCondition`: the same rules decide pages, totals, `_include`s and single reads.
 */
export interface ConsentFacts {
  /** the hub's base policy: opt-out shares unless a provision denies, opt-in only what a provision permits */
  base: 'opt-in' | 'opt-out';
  /** `Organization/x` the requester belongs to: what any of them wrote is always visible to the requester */
  organizations: string[];
  /** references the requester is or acts for (fhirUser, organization, PractitionerRole, CareTeam, ...) */
  actors: string[];
  /** declared purposes of use (v3 PurposeOfUse codes); empty = undeclared */
  purposes: string[];
  /** consent actions the interaction performs (access, use, disclose, correct) */
  actions: string[];
  /** patients for whom the requester holds an active break-the-glass session: their data is not filtered */
  breakGlassPatients: string[];
}

/** Search parameters whose dates bound a resource for `provision.dataPeriod`, by preference. */
const CLINICAL_DATE_CODES = ['date', 'onset-date', 'authoredon', 'occurrence', 'period', 'created', 'recorded-date', 'issued'];

/**
 * The consent decision as a SQL condition on a `resource` alias. A resource passes when an organization that wrote
 * it asks, or when, for every patient whose compartment it is in (minus break-the-glass patients), the matching
 * provisions permit: the deepest matching provision wins and deny beats permit at the same depth; with none
 * matching, the base policy decides. Resources in no patient's compartment are not governed by consent.
 */
export function consentCondition(sql: SqlParams, registry: SearchParamRegistry, scope: Scope, facts: ConsentFacts): string {
  const r = scope.alias;
  const inCompartment = scope.types.filter((t) => R4Definitions.get().compartments.get('Patient')?.resources.has(t));
  if (!inCompartment.length) return 'true';
  const m = matcher(sql, registry, { alias: r, types: inCompartment }, facts);
  const btg = facts.breakGlassPatients.length ? sql.p(facts.breakGlassPatients, 'text[]') : undefined;
  const notBtg = (col: string) => (btg ? ` AND NOT (${col} = ANY(${btg}))` : '');
  const refPids = compartmentPids(registry, inCompartment);
  const hasSelf = inCompartment.includes('Patient');
  const parts: string[] = [];
  if (facts.base === 'opt-out') {
    // denied when a deny provision matches and no deeper permit does
    const d = sql.alias('cd');
    const x = sql.alias('cx');
    const denyRule = (patientCol: string) =>
      `${d}.patient_id = ${patientCol} AND ${d}.deny AND ${m(d)}${notBtg(`${d}.patient_id`)}
        AND NOT EXISTS (SELECT 1 FROM consent_rule ${x} WHERE ${x}.patient_id = ${d}.patient_id AND NOT ${x}.deny AND ${x}.depth > ${d}.depth AND ${m(x)})`;
    if (refPids.length) {
      const k = sql.alias('ck');
      parts.push(`NOT EXISTS (SELECT 1 FROM sp_reference ${k} JOIN consent_rule ${d} ON ${denyRule(`${k}.tid`)}
                   WHERE ${k}.rid = ${r}.rid AND ${pidIn(sql, k, refPids)} AND ${k}.rtype = 'Patient')`);
    }
    if (hasSelf) parts.push(`NOT EXISTS (SELECT 1 FROM consent_rule ${d} WHERE ${r}.resource_type = 'Patient' AND ${denyRule(`${r}.id`)})`);
  } else {
    // permitted when a permit provision matches and no deny at the same depth or deeper does
    const permitted = (patientCol: string) => {
      const a = sql.alias('ca');
      const x = sql.alias('cx');
      return `EXISTS (SELECT 1 FROM consent_rule ${a} WHERE ${a}.patient_id = ${patientCol} AND NOT ${a}.deny AND ${m(a)}
                AND NOT EXISTS (SELECT 1 FROM consent_rule ${x} WHERE ${x}.patient_id = ${a}.patient_id AND ${x}.deny AND ${x}.depth >= ${a}.depth AND ${m(x)}))`;
    };
    if (refPids.length) {
      const k = sql.alias('ck');
      parts.push(`NOT EXISTS (SELECT 1 FROM sp_reference ${k} WHERE ${k}.rid = ${r}.rid AND ${pidIn(sql, k, refPids)} AND ${k}.rtype = 'Patient'${notBtg(`${k}.tid`)}
                   AND NOT ${permitted(`${k}.tid`)})`);
    }
    if (hasSelf) parts.push(`(${r}.resource_type <> 'Patient'${btg ? ` OR ${r}.id = ANY(${btg})` : ''} OR ${permitted(`${r}.id`)})`);
  }
  let cond = parts.length === 1 ? parts[0] : `(${parts.join(' AND ')})`;
  if (facts.organizations.length) {
    // checked after the (usually passing) consent test, so the common case costs no ownership lookup
    const o = sql.alias('co');
    cond = `(${cond} OR EXISTS (SELECT 1 FROM resource_owner ${o} WHERE ${o}.rid = ${r}.rid AND ${o}.organization = ANY(${sql.p(facts.organizations, 'text[]')})))`;
  }
  if (inCompartment.length < scope.types.length) cond = `(${typeIn(`${r}.resource_type`, scope.types.filter((t) => !inCompartment.includes(t)))} OR ${cond})`;
  return cond;
}

/**
 * The provisions that match one resource for a requester (whatever they decide), with the patient they are about:
 * the reason given when a read is denied. Same matching as `consentCondition`.
 */
export function matchedRulesStatement(sql: SqlParams, registry: SearchParamRegistry, resourceType: string, id: string, facts: ConsentFacts): string {
  const r = 'r0';
  const m = matcher(sql, registry, { alias: r, types: [resourceType] }, facts);
  const refPids = compartmentPids(registry, [resourceType]);
  const patients = [
    ...(refPids.length ? [`SELECT k.tid FROM sp_reference k WHERE k.rid = ${r}.rid AND ${pidIn(sql, 'k', refPids)} AND k.rtype = 'Patient'`] : []),
    ...(resourceType === 'Patient' ? [`SELECT ${r}.id`] : []),
  ];
  if (!patients.length) return `SELECT NULL AS patient_id WHERE false`;
  return `SELECT x.patient_id, x.consent_id, x.provision, x.depth, x.deny
          FROM resource ${r} JOIN consent_rule x ON x.patient_id IN (${patients.join(' UNION ')})
          WHERE ${r}.resource_type = ${sql.p(resourceType)} AND ${r}.id = ${sql.p(id)} AND ${m('x')}
          ORDER BY x.patient_id, x.depth DESC, x.deny DESC`;
}

/** The patients whose compartment one resource is in (`patient_id` column). */
export function patientsStatement(sql: SqlParams, registry: SearchParamRegistry, resourceType: string, id: string): string {
  const refPids = compartmentPids(registry, [resourceType]);
  const parts = [
    ...(refPids.length ? [`SELECT k.tid AS patient_id FROM resource r0 JOIN sp_reference k ON k.rid = r0.rid AND ${pidIn(sql, 'k', refPids)} AND k.rtype = 'Patient'
                          WHERE r0.resource_type = ${sql.p(resourceType)} AND r0.id = ${sql.p(id)}`] : []),
    ...(resourceType === 'Patient' ? [`SELECT ${sql.p(id)}::text AS patient_id`] : []),
  ];
  return parts.length ? parts.join(' UNION ') : 'SELECT NULL::text AS patient_id WHERE false';
}

/** Reference parameters that put resources of these types in a Patient's compartment. */
function compartmentPids(registry: SearchParamRegistry, types: string[]): number[] {
  const def = R4Definitions.get().compartments.get('Patient');
  const pids: number[] = [];
  for (const t of types) {
    for (const code of def?.resources.get(t) ?? []) {
      const d = code === '{def}' ? undefined : registry.get(t, code);
      if (d?.type === 'reference') pids.push(d.pid);
    }
  }
  return [...new Set(pids)];
}

/** `M(x)`: whether consent_rule row `x` applies to this requester and to the resource `scope.alias`. */
function matcher(sql: SqlParams, registry: SearchParamRegistry, scope: Scope, facts: ConsentFacts): (x: string) => string {
  const r = scope.alias;
  const actors = sql.p(facts.actors, 'text[]');
  const actions = sql.p(facts.actions, 'text[]');
  const purposes = sql.p(facts.purposes, 'text[]');
  const pidsOf = (codes: string[]) =>
    scope.types.map((t) => codes.map((c) => registry.get(t, c)).find(Boolean)?.pid).filter((p): p is number => p !== undefined);
  const security = pidsOf(['_security']);
  const profile = pidsOf(['_profile']);
  const dates = scope.types.map((t) => CLINICAL_DATE_CODES.map((c) => registry.get(t, c)).find((d) => d?.type === 'date')?.pid).filter((p): p is number => p !== undefined);
  return (x: string) => {
    const s = sql.alias('cs');
    const u = sql.alias('cu');
    const dt = sql.alias('cdt');
    const rr = sql.alias('crr');
    return `${x}.valid_lo <= now() AND ${x}.valid_hi >= now()
      AND (${x}.actors IS NULL OR ${x}.actors && ${actors})
      AND (${x}.actions IS NULL OR ${x}.actions && ${actions})
      AND (${x}.purposes IS NULL OR ${x}.purposes && ${purposes} OR (${x}.deny AND cardinality(${purposes}) = 0))
      AND (${x}.types IS NULL OR ${r}.resource_type = ANY(${x}.types))
      AND (${x}.labels IS NULL OR ${security.length ? `EXISTS (SELECT 1 FROM sp_token ${s} WHERE ${s}.rid = ${r}.rid AND ${pidIn(sql, s, security)} AND ${s}.code = ANY(${x}.labels))` : 'false'})
      AND (${x}.profiles IS NULL OR ${profile.length ? `EXISTS (SELECT 1 FROM sp_uri ${u} WHERE ${u}.rid = ${r}.rid AND ${pidIn(sql, u, profile)} AND ${u}.uri = ANY(${x}.profiles))` : 'false'})
      AND (${x}.data_lo IS NULL OR ${dates.length ? `EXISTS (SELECT 1 FROM sp_date ${dt} WHERE ${dt}.rid = ${r}.rid AND ${pidIn(sql, dt, dates)} AND ${dt}.lo <= ${x}.data_hi AND ${dt}.hi >= ${x}.data_lo)` : 'false'})
      AND (${x}.data_refs IS NULL OR (${r}.resource_type || '/' || ${r}.id) = ANY(${x}.data_refs)
           OR EXISTS (SELECT 1 FROM sp_reference ${rr} WHERE ${rr}.rid = ${r}.rid AND (${rr}.rtype || '/' || ${rr}.tid) = ANY(${x}.data_refs)))`;
  };
}
