import { R4Definitions } from '../../definitions/r4-definitions.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import { pidIn } from './conditions/leaf-conditions.js';
import { compartmentPids } from './filter-compiler.js';
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
  /**
   * Set for searches: the statement reads the rest of the requester's facts itself, in its own snapshot, so that no
   * round trip precedes it — the base policy, the user's running break-the-glass sessions (their patients are not
   * filtered, and the purpose BTG is added), the practitioner's active PractitionerRoles (ids and organizations, as
   * actors and owners). `base` and `breakGlassPatients` are then unused; `actors`, `organizations` and `purposes`
   * are the principal's own. Such a statement starts with `consentFactsCte` (the page statement, whose includes are
   * in the same statement).
   */
  live?: LiveFacts;
  /**
   * Set for searches decided on facts the consent stage kept from an earlier request (bound values, as without
   * `live`): the page statement also returns, read in its own snapshot, the consent generation and the time it ran
   * (`validatedContextExpression`), so that the stage can tell whether the facts it decided with still hold.
   */
  validated?: ValidatedFacts;
}

export interface ValidatedFacts {
  /** patients the search names: the context reports their deny provisions that apply (the `filtered` reason) */
  patients: string[];
  /** receives what the page statement read (`validatedContextExpression`) */
  report?: (context: unknown) => void;
}

export interface LiveFacts {
  /** the user whose break-the-glass sessions count (null: none) */
  userId: string | null;
  /** `Practitioner` id whose PractitionerRoles add actors and organizations (null: none) */
  practitioner: string | null;
  /** patients the search names: the context reports their deny provisions that apply (the `filtered` reason) */
  patients: string[];
  /** receives what the page statement read (`consentContextExpression`), for the audit of the interaction */
  report?: (context: unknown) => void;
}

/** The requester's facts as SQL expressions: bound values, or, for live facts, columns of `consent_facts`. */
interface FactsSql {
  actors: string;
  organizations: string;
  purposes: string;
  actions: string;
  breakGlass: string;
  optIn: string;
}

/** Search parameters whose dates bound a resource for `provision.dataPeriod`, by preference. */
const CLINICAL_DATE_CODES = ['date', 'onset-date', 'authoredon', 'occurrence', 'period', 'created', 'recorded-date', 'issued'];

/** The CTE that live facts read (one row, computed once per statement): see `consentFactsCte`. */
const FACTS = 'consent_facts';

function factsSql(sql: SqlParams, facts: ConsentFacts): FactsSql {
  // bound on first use: a parameter the statement does not use would have no type
  const bound = (value: unknown, cast: string) => {
    let p: string | undefined;
    return () => (p ??= sql.p(value, cast));
  };
  const actions = bound(facts.actions, 'text[]');
  const own = { actors: bound(facts.actors, 'text[]'), organizations: bound(facts.organizations, 'text[]'), purposes: bound(facts.purposes, 'text[]') };
  const breakGlass = bound(facts.breakGlassPatients, 'text[]');
  const live = !!facts.live;
  return {
    get actors() { return live ? `(${own.actors()} || (SELECT role_ids || role_organizations FROM ${FACTS}))` : own.actors(); },
    get organizations() { return live ? `(${own.organizations()} || (SELECT role_organizations FROM ${FACTS}))` : own.organizations(); },
    get purposes() { return live ? `(${own.purposes()} || (SELECT CASE WHEN cardinality(sessions) > 0 THEN '{BTG}'::text[] ELSE '{}'::text[] END FROM ${FACTS}))` : own.purposes(); },
    get actions() { return actions(); },
    get breakGlass() { return live ? `(SELECT patients FROM ${FACTS})::text[]` : breakGlass(); }, // a cast: ANY((SELECT ...)) would compare with rows
    optIn: live ? `(SELECT opt_in FROM ${FACTS})` : facts.base === 'opt-in' ? 'true' : 'false',
  };
}

/**
 * For live facts: the CTE (`consent_facts AS MATERIALIZED (...)`, one row) a statement must start with when it
 * uses `consentCondition` or `consentContextExpression` with live facts: the base policy, the user's running
 * break-the-glass sessions and their patients, the practitioner's active PractitionerRoles and their organizations.
 * Materialized, so each is read once per statement however often the condition refers to it.
 */
export function consentFactsCte(sql: SqlParams, registry: SearchParamRegistry, live: LiveFacts): string {
  // the user's sessions not yet ended: those running count, and the next start or end bounds how long the facts hold
  const ctes = [`bg AS (SELECT id::text AS id, patient_id, started_at <= now() AS running,
        CASE WHEN started_at > now() THEN started_at ELSE expires_at END AS next_change
      FROM break_glass_session WHERE user_id = ${sql.p(live.userId, 'text')} AND expires_at > now())`];
  let roles = `'{}'::text[] AS role_ids, '{}'::text[] AS role_organizations`;
  if (live.practitioner) {
    const byPractitioner = registry.get('PractitionerRole', 'practitioner')!.pid;
    const byOrganization = registry.get('PractitionerRole', 'organization')!.pid;
    const active = registry.get('PractitionerRole', 'active')!.pid;
    ctes.push(`rl AS (SELECT r.id, o.tid AS organization FROM sp_reference p
        JOIN resource r ON r.rid = p.rid AND r.resource_type = 'PractitionerRole' AND NOT r.deleted
        LEFT JOIN sp_reference o ON o.rid = r.rid AND o.pid = ${byOrganization} AND o.rtype = 'Organization'
        WHERE p.pid = ${byPractitioner} AND p.tid = ${sql.p(live.practitioner, 'text')} AND p.rtype = 'Practitioner'
          AND NOT EXISTS (SELECT 1 FROM sp_token a WHERE a.rid = r.rid AND a.pid = ${active} AND a.code = 'false')
        LIMIT 50)`);
    roles = `ARRAY(SELECT DISTINCT 'PractitionerRole/' || rl.id FROM rl ORDER BY 1) AS role_ids,
        ARRAY(SELECT DISTINCT 'Organization/' || rl.organization FROM rl WHERE rl.organization IS NOT NULL ORDER BY 1) AS role_organizations`;
  }
  // gen and next_change tell how long these facts hold (consent-facts-cache.ts): until the consent generation moves
  // on, or one of the user's sessions starts or ends (epoch milliseconds, by the database's clock)
  return `${FACTS} AS MATERIALIZED (WITH ${ctes.join(', ')}
      SELECT COALESCE(cpol.opt_in, false) AS opt_in, COALESCE(cpol.hide_denied, false) AS hide_denied,
        ARRAY(SELECT id FROM bg WHERE running ORDER BY 1) AS sessions, ARRAY(SELECT DISTINCT patient_id FROM bg WHERE running ORDER BY 1) AS patients,
        ${roles},
        (SELECT gen::text FROM consent_generation WHERE id = 1) AS gen,
        (SELECT (extract(epoch FROM min(bg.next_change)) * 1000)::bigint FROM bg) AS next_change
      FROM consent_policy cpol RIGHT JOIN (VALUES (1)) one(id) ON cpol.id = one.id)`;
}

/**
 * For live facts: one JSON value with what the consent stage needs after the statement — the policy, the user's
 * running sessions and their patients, the practitioner's roles and organizations, and the deny provisions of the
 * named patients that apply (at most 20). Read from `consent_facts`, in the same snapshot as the decision.
 */
export function consentContextExpression(sql: SqlParams, facts: ConsentFacts): string {
  const f = factsSql(sql, { ...facts, live: facts.live ?? { userId: null, practitioner: null, patients: [] } });
  return `(SELECT json_build_object('optIn', opt_in, 'hideDenied', hide_denied, 'sessions', sessions, 'patients', patients,
      'roles', role_ids, 'organizations', role_organizations, 'gen', gen, 'nextChange', next_change,
      'denials', ${denialsExpression(sql, f, facts.live?.patients ?? [])}) FROM ${FACTS})`;
}

/**
 * For facts the consent stage kept (`ConsentFacts.validated`, bound values): one JSON value with the consent
 * generation and the time the statement ran (epoch milliseconds), both as the statement's snapshot has them, and
 * the deny provisions of the named patients that apply (at most 20), as `consentContextExpression` gives them.
 */
export function validatedContextExpression(sql: SqlParams, facts: ConsentFacts): string {
  const patients = facts.validated?.patients ?? [];
  const denials = patients.length ? denialsExpression(sql, factsSql(sql, { ...facts, live: undefined }), patients) : `'[]'::json`;
  return `(SELECT json_build_object('gen', g.gen::text, 'now', (extract(epoch FROM now()) * 1000)::bigint, 'denials', ${denials})
      FROM consent_generation g WHERE g.id = 1)`;
}

/** The deny provisions of these patients that apply to the requester, as JSON `[[patient, consent, provision], ...]`. */
/**
 * Whether consent_rule row `c` is a deny provision that applies to the requester now, whatever the resource: its
 * period, actors, actions and purposes (an undeclared purpose is matched by denies of any purpose), as the matcher
 * tests them.
 */
function denyForRequester(c: string, f: FactsSql): string {
  return `${c}.deny AND ${c}.valid_lo <= now() AND ${c}.valid_hi >= now()
          AND (${c}.actors IS NULL OR ${c}.actors && ${f.actors}) AND (${c}.actions IS NULL OR ${c}.actions && ${f.actions})
          AND (${c}.purposes IS NULL OR ${c}.purposes && ${f.purposes} OR cardinality(${f.purposes}) = 0)`;
}

function denialsExpression(sql: SqlParams, f: FactsSql, patients: string[]): string {
  return `(SELECT COALESCE(json_agg(json_build_array(d.patient_id, d.consent_id, d.provision)), '[]') FROM (
        SELECT c.patient_id, c.consent_id, c.provision FROM consent_rule c
        WHERE c.patient_id = ANY(${sql.p(patients, 'text[]')}) AND ${denyForRequester('c', f)}
          AND NOT (c.patient_id = ANY(${f.breakGlass}))
        ORDER BY c.patient_id, c.depth, c.consent_id, c.provision LIMIT 20) d)`;
}

/**
 * The consent decision as a SQL condition on a `resource` alias. A resource passes when an organization that wrote
 * it asks, or when, for every patient whose compartment it is in (minus break-the-glass patients), the matching
 * provisions permit: the deepest matching provision wins and deny beats permit at the same depth; with none
 * matching, the base policy decides. Resources in no patient's compartment are not governed by consent.
 *
 * Per patient it is one pass over that patient's rules: `d` and `p`, the depths of the deepest matching deny and
 * permit (0 when none). The deepest match is a deny when d >= p and d > 0, so the patient refuses when that holds,
 * or, under opt-in, also when nothing matches (d = p = 0): `decide()` in src/consent/consent-rules.ts, exactly. One
 * copy of the matcher keeps the statement small: every subquery in it is set up at each execution of the
 * statement, whether or not a row needs it.
 */
export function consentCondition(sql: SqlParams, registry: SearchParamRegistry, scope: Scope, facts: ConsentFacts): string {
  const r = scope.alias;
  const inCompartment = scope.types.filter((t) => R4Definitions.get().compartments.get('Patient')?.resources.has(t));
  if (!inCompartment.length) return 'true';
  const f = factsSql(sql, facts);
  const m = matcher(sql, registry, { alias: r, types: inCompartment }, f);
  const refPids = compartmentPids(registry, 'Patient', inCompartment);
  const k = sql.alias('ck');
  const pt = sql.alias('cp');
  const x = sql.alias('cx');
  // the patients whose compartment the row is in: those it refers to through a compartment parameter, or itself;
  // less the patients the search names that cannot refuse anything to this requester (decided once, not per row)
  const safe = unrefusing(sql, f, facts);
  const notSafe = (col: string) => (safe ? ` AND NOT (${col} = ANY(${safe}))` : '');
  const patients = [
    ...(refPids.length ? [`SELECT ${k}.tid FROM sp_reference ${k} WHERE ${k}.rid = ${r}.rid AND ${pidIn(sql, k, refPids)} AND ${k}.rtype = 'Patient'${notSafe(`${k}.tid`)}`] : []),
    ...(inCompartment.includes('Patient') ? [`SELECT ${r}.id WHERE ${r}.resource_type = 'Patient'${notSafe(`${r}.id`)}`] : []),
  ];
  const notBtg = facts.live || facts.breakGlassPatients.length ? `NOT (${pt}.id = ANY(${f.breakGlass})) AND ` : '';
  const refuses = facts.live ? `v.d >= v.p AND (v.d > 0 OR ${f.optIn})` : facts.base === 'opt-out' ? 'v.d >= v.p AND v.d > 0' : 'v.d >= v.p';
  // OFFSET 0: the patients are found by the row's rid (a few index entries); without it the planner, to spare the
  // per-patient check below, may intersect with an index of every patient reference instead
  let cond = `NOT EXISTS (SELECT 1 FROM (${patients.join(' UNION ALL ')} OFFSET 0) ${pt}(id)
      WHERE ${notBtg}(SELECT ${refuses} FROM (SELECT COALESCE(max(${x}.depth) FILTER (WHERE ${x}.deny), 0) AS d, COALESCE(max(${x}.depth) FILTER (WHERE NOT ${x}.deny), 0) AS p
                FROM consent_rule ${x} WHERE ${x}.patient_id = ${pt}.id AND ${m(x)}) v))`;
  if (facts.organizations.length || facts.live?.practitioner) {
    // checked after the (usually passing) consent test, so the common case costs no ownership lookup
    const o = sql.alias('co');
    cond = `(${cond} OR EXISTS (SELECT 1 FROM resource_owner ${o} WHERE ${o}.rid = ${r}.rid AND ${o}.organization = ANY(${f.organizations})))`;
  }
  if (inCompartment.length < scope.types.length) cond = `(${typeIn(`${r}.resource_type`, scope.types.filter((t) => !inCompartment.includes(t)))} OR ${cond})`;
  return cond;
}

/**
 * Of the patients a search names, those who cannot refuse this requester anything (a `text[]` expression evaluated
 * once per statement), or undefined when the search names none. Under opt-out a patient refuses a resource only
 * through a matching deny provision, and whether any of theirs can match depends on the requester alone for the
 * dimensions `denyForRequester` tests; when none can, their rows need no per-row check for them. Under opt-in every patient may refuse (nothing permits by default).
 * A named patient's resources are by far most of what such a search walks: this spares the per-row decision for
 * patients without a Consent that concerns this requester.
 */
function unrefusing(sql: SqlParams, f: FactsSql, facts: ConsentFacts): string | undefined {
  const named = facts.live?.patients ?? facts.validated?.patients ?? [];
  if (!named.length || (!facts.live && facts.base === 'opt-in')) return undefined;
  const u = sql.alias('cn');
  const d = sql.alias('cd');
  return `(SELECT CASE WHEN ${f.optIn} THEN '{}'::text[] ELSE ARRAY(SELECT ${u}.id FROM unnest(${sql.p(named, 'text[]')}) ${u}(id)
      WHERE NOT EXISTS (SELECT 1 FROM consent_rule ${d} WHERE ${d}.patient_id = ${u}.id AND ${denyForRequester(d, f)})) END)::text[]`; // cast: ANY((SELECT ...)) would compare with rows
}

/**
 * The provisions that match one resource for a requester (whatever they decide), with the patient they are about:
 * the reason given when a read is denied. Same matching as `consentCondition`.
 */
export function matchedRulesStatement(sql: SqlParams, registry: SearchParamRegistry, resourceType: string, id: string, facts: ConsentFacts): string {
  const r = 'r0';
  const m = matcher(sql, registry, { alias: r, types: [resourceType] }, factsSql(sql, facts));
  const refPids = compartmentPids(registry, 'Patient', [resourceType]);
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
  const refPids = compartmentPids(registry, 'Patient', [resourceType]);
  const parts = [
    ...(refPids.length ? [`SELECT k.tid AS patient_id FROM resource r0 JOIN sp_reference k ON k.rid = r0.rid AND ${pidIn(sql, 'k', refPids)} AND k.rtype = 'Patient'
                          WHERE r0.resource_type = ${sql.p(resourceType)} AND r0.id = ${sql.p(id)}`] : []),
    ...(resourceType === 'Patient' ? [`SELECT ${sql.p(id)}::text AS patient_id`] : []),
  ];
  return parts.length ? parts.join(' UNION ') : 'SELECT NULL::text AS patient_id WHERE false';
}

/** `M(x)`: whether consent_rule row `x` applies to this requester and to the resource `scope.alias`. */
function matcher(sql: SqlParams, registry: SearchParamRegistry, scope: Scope, facts: FactsSql): (x: string) => string {
  const r = scope.alias;
  const { actors, actions, purposes } = facts;
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
