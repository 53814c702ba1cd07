import type { Queryable, Tx } from '../../../modules/database/db.js';
import type { SearchIndexWriter, StoredVersion } from '../../store/stored-resource.js';
import { IndexRows, MANY_PATIENTS } from '../extract/index-rows.js';
import { arrayLiteral } from '../../../modules/database/pg-array.js';
import type { SearchParameterIndexer } from '../extract/search-parameter-indexer.js';
import type { SearchParamRegistry } from '../params/search-param-registry.js';
import type { StatisticsKeeper } from './statistics-keeper.js';

/** The index tables, their columns (after rid) and the array type each column is sent as. */
const TABLES: { name: string; rows: keyof IndexRows; cols: [string, string][] }[] = [
  { name: 'sp_token', rows: 'token', cols: [['pid', 'int4'], ['sys', 'text'], ['code', 'text'], ['txt', 'text']] },
  { name: 'sp_string', rows: 'string', cols: [['pid', 'int4'], ['norm', 'text'], ['exact', 'text']] },
  { name: 'sp_date', rows: 'date', cols: [['pid', 'int4'], ['lo', 'timestamptz'], ['hi', 'timestamptz']] },
  { name: 'sp_number', rows: 'number', cols: [['pid', 'int4'], ['lo', 'numeric'], ['hi', 'numeric']] },
  {
    name: 'sp_quantity',
    rows: 'quantity',
    cols: [['pid', 'int4'], ['sys', 'text'], ['code', 'text'], ['lo', 'numeric'], ['hi', 'numeric'], ['ccode', 'text'], ['clo', 'numeric'], ['chi', 'numeric']],
  },
  {
    name: 'sp_reference',
    rows: 'reference',
    cols: [['pid', 'int4'], ['rtype', 'text'], ['tid', 'text'], ['ver', 'text'], ['url', 'text'], ['idsys', 'text'], ['idval', 'text']],
  },
  { name: 'sp_uri', rows: 'uri', cols: [['pid', 'int4'], ['uri', 'text']] },
  {
    name: 'sp_composite',
    rows: 'composite',
    cols: [['pid', 'int4'], ['a_sys', 'text'], ['a_code', 'text'], ['b_sys', 'text'], ['b_code', 'text'], ['b_lo', 'numeric'], ['b_hi', 'numeric'], ['b_dlo', 'timestamptz'], ['b_dhi', 'timestamptz'], ['c_lo', 'numeric'], ['c_hi', 'numeric']],
  },
];
const TOKEN_TABLE = TABLES.findIndex((t) => t.name === 'sp_token');
export const INDEX_TABLES = [...TABLES.map((t) => t.name), 'sp_text'];

/**
 * `sp_token.prid`: the rid of the Patient that the resource's `patient` parameter points to, so that
 * `Patient?_has:Observation:patient:code=x` reads the Patients of the matching codes from the index
 * `sp_token (pid, code, prid, sys)` alone (FilterCompiler.has). NULL when the parameter points to no Patient (or
 * the type has none); -1 (`PRID_UNKNOWN`) when it points to several, or to one that did not exist yet when the row
 * was written — such rows are searched the old way, through `sp_reference`, so the column is never trusted beyond
 * what it knows. A Patient created later turns the -1 rows that point to it alone into its rid (`linkNewPatients`).
 * Written from `IndexRows.patient`: `pridOf` takes SQL conditions for "no Patient" and "several" and the Patient's
 * rid as looked up (NULL when it is not stored yet).
 */
export const PRID_UNKNOWN = -1;
const pridOf = (none: string, several: string, rid: string) =>
  `CASE WHEN ${none} THEN NULL WHEN ${several} THEN ${PRID_UNKNOWN} ELSE coalesce(${rid}, ${PRID_UNKNOWN}) END`;

/** The pids of every type's `patient` reference parameter (the `_has:…:patient:` a `prid` answers). */
export function patientParamPids(registry: SearchParamRegistry): number[] {
  const pids = new Set<number>();
  for (const t of registry.allResourceTypes()) {
    const d = registry.get(t, 'patient');
    if (d?.type === 'reference') pids.add(d.pid);
  }
  return [...pids];
}

/**
 * `prid` of the token rows of every resource with a `patient` reference parameter (`$1`, their pids) that points
 * to a Patient, from the reference rows (only resources `$2` when `onlyRids`): what the writer would have written.
 * For rows written before the column existed (migration 1764000001100).
 */
export function fillPatientRidsSql(onlyRids: boolean): string {
  return `UPDATE sp_token t SET prid = l.prid
    FROM (SELECT h.rid, CASE WHEN count(DISTINCT h.tid) > 1 THEN ${PRID_UNKNOWN} ELSE coalesce(min(p.rid), ${PRID_UNKNOWN}) END AS prid
          FROM sp_reference h LEFT JOIN resource p ON p.resource_type = 'Patient' AND p.id = h.tid
          WHERE h.pid = ANY($1::int4[]) AND h.rtype = 'Patient' AND h.tid IS NOT NULL${onlyRids ? ' AND h.rid = ANY($2::int8[])' : ''}
          GROUP BY h.rid) l
    WHERE t.rid = l.rid`;
}

/**
 * Gives the token rows that point to these new Patients (by id) alone, and were written before them (`prid` -1),
 * the Patients' rids: a transaction that creates an Observation before its Patient (FHIR processes a Bundle's
 * POSTs before its PUTs), or a feed that sends results first. Without it those rows stay correct, only slower.
 */
async function linkNewPatients(q: Queryable, pids: number[], ids: string[]): Promise<void> {
  if (!ids.length || !pids.length) return;
  await q.query({
    name: `sp_link_patients_${pids.length}`,
    text: `UPDATE sp_token t SET prid = p.rid
           FROM sp_reference h JOIN resource p ON p.resource_type = 'Patient' AND p.id = h.tid
           WHERE h.pid IN (${pids.join(', ')}) AND h.rtype = 'Patient' AND h.tid = ANY($1::text[])
             AND t.rid = h.rid AND t.prid = ${PRID_UNKNOWN}
             AND NOT EXISTS (SELECT 1 FROM sp_reference o WHERE o.rid = h.rid AND o.pid = h.pid AND o.rtype = 'Patient' AND o.tid <> h.tid)`,
    values: [ids],
  });
}

/** Statement text per (tables with rows, replace old rows?) combination; each is a named prepared statement. */
const statements = new Map<number, string>();

function statementFor(mask: number, replace: boolean, withText: boolean): string {
  const key = (mask << 2) | (replace ? 2 : 0) | (withText ? 1 : 0);
  let text = statements.get(key);
  if (text) return text;
  const ctes: string[] = [];
  if (replace) {
    for (const t of TABLES) ctes.push(`d_${t.name} AS (DELETE FROM ${t.name} WHERE rid = $1)`);
    // with new text the upsert below replaces the row (a DELETE of it in the same statement would conflict)
    if (!withText) ctes.push(`d_sp_text AS (DELETE FROM sp_text WHERE rid = $1)`);
  }
  let n = 1;
  TABLES.forEach((t, i) => {
    if (!(mask & (1 << i))) return;
    const args = t.cols.map(([, ty]) => `$${++n}::${ty}[]`).join(', ');
    const cols = t.cols.map(([c]) => c).join(', ');
    if (t.name !== 'sp_token') {
      ctes.push(`i_${t.name} AS (INSERT INTO ${t.name} (rid, ${cols}) SELECT $1, * FROM unnest(${args}))`);
      return;
    }
    const p = `$${++n}::text`;
    const prid = pridOf(`${p} IS NULL`, `${p} = '${MANY_PATIENTS}'`, `(SELECT rid FROM resource WHERE resource_type = 'Patient' AND id = ${p})`);
    ctes.push(`i_sp_token AS (INSERT INTO sp_token (rid, ${cols}, prid) SELECT $1, u.*, (SELECT ${prid}) FROM unnest(${args}) u)`);
  });
  if (withText) {
    const a = ++n;
    const b = ++n;
    ctes.push(`i_sp_text AS (INSERT INTO sp_text (rid, content, narrative) VALUES ($1, to_tsvector('simple', $${a}::text), to_tsvector('simple', $${b}::text))
               ON CONFLICT (rid) DO UPDATE SET content = EXCLUDED.content, narrative = EXCLUDED.narrative)`);
  }
  text = ctes.length ? `WITH ${ctes.join(',\n')} SELECT 1` : 'SELECT 1';
  statements.set(key, text);
  return text;
}

/**
 * Writes a resource's index rows in the write's own transaction: one statement per write, whatever the number of
 * parameters (old rows deleted and new ones inserted through data-modifying CTEs over `unnest` arrays).
 */
export class PgSearchIndexWriter implements SearchIndexWriter {
  constructor(
    private readonly indexer: SearchParameterIndexer,
    private readonly registry: SearchParamRegistry,
    private readonly statistics?: StatisticsKeeper,
  ) {}

  async write(tx: Tx, stored: StoredVersion, resource: any): Promise<void> {
    // a SearchParameter written here indexes new writes at once (other processes pick it up on their refresh)
    if (stored.resourceType === 'SearchParameter') this.registry.registerStored(stored.id, resource);
    const rows = this.indexer.extract(resource);
    // a first version has no old rows (a resurrected resource had them removed at delete)
    await writeRows(tx, stored.rid, rows, stored.versionId > 1);
    if (stored.resourceType === 'Patient' && stored.versionId === 1) await linkNewPatients(tx, this.patientPids(), [stored.id]);
    this.noteWritten(tx, rows.size);
  }

  private pids?: number[];

  private patientPids(): number[] {
    return (this.pids ??= patientParamPids(this.registry));
  }

  /**
   * Index rows of many new resources (a transaction Bundle's creates) in ONE statement: the rows of every resource
   * are concatenated per table with a rid column, so the cost no longer grows with round trips.
   */
  async writeMany(tx: Tx, items: { stored: StoredVersion; resource: any }[]): Promise<void> {
    // every resource's rows in one IndexRows, one after the other; per table, the rid of each row alongside
    const rows = new IndexRows();
    const rids = TABLES.map(() => [] as string[]);
    const columns = TABLES.map((t) => rows[t.rows] as unknown as Record<string, unknown[]>);
    // per token row, the Patient its resource's `patient` parameter points to, as its place (1…) in the batch's
    // distinct ones (looked up once), 0 for several, null for none: a small number instead of an id per row
    const tokenPatient: (number | null)[] = [];
    const patients = new Map<string, number>();
    const newPatients: string[] = [];
    const text = { rid: [] as string[], content: [] as (string | null)[], narrative: [] as (string | null)[] };
    let rowCount = 0;
    for (const { stored, resource } of items) {
      if (stored.resourceType === 'SearchParameter') this.registry.registerStored(stored.id, resource);
      this.indexer.extractInto(rows, resource);
      rowCount += rows.size;
      if (stored.resourceType === 'Patient') newPatients.push(stored.id);
      let place: number | null = null;
      if (rows.patient === MANY_PATIENTS) place = 0;
      else if (rows.patient !== null) {
        place = patients.get(rows.patient) ?? patients.size + 1;
        patients.set(rows.patient, place);
      }
      for (let i = 0; i < TABLES.length; i++) {
        const rid = rids[i];
        const n = columns[i].pid.length;
        while (rid.length < n) rid.push(stored.rid);
      }
      while (tokenPatient.length < rids[TOKEN_TABLE].length) tokenPatient.push(place);
      if (rows.content || rows.narrative) {
        text.rid.push(stored.rid);
        text.content.push(rows.content ?? null);
        text.narrative.push(rows.narrative ?? null);
      }
    }
    let mask = 0;
    const values: unknown[] = [];
    TABLES.forEach((t, i) => {
      if (!rids[i].length) return;
      mask |= 1 << i;
      values.push(arrayLiteral(rids[i]), ...t.cols.map(([c]) => arrayLiteral(columns[i][c])));
      if (t.name === 'sp_token') values.push(arrayLiteral(tokenPatient), arrayLiteral([...patients.keys()]));
    });
    const withText = text.rid.length > 0;
    if (withText) values.push(arrayLiteral(text.rid), arrayLiteral(text.content), arrayLiteral(text.narrative));
    if (!mask && !withText) return;
    await tx.query({ name: `sp_many${mask}_${withText ? 1 : 0}`, text: batchStatementFor(mask, withText), values });
    // (new, so no earlier rows of theirs to replace; the batch's own rows found them above)
    await linkNewPatients(tx, this.patientPids(), newPatients);
    this.noteWritten(tx, rowCount);
  }

  /**
   * Counted once the rows are committed: an ANALYZE started while the writing transaction is still open sees none
   * of them, and counting them then would mark a whole load as analyzed when the statistics still say "empty"
   * (a test's two-level chain right after loading took 51 s instead of milliseconds).
   */
  private noteWritten(tx: Tx, rows: number): void {
    const statistics = this.statistics;
    if (statistics && rows) tx.afterCommit(() => statistics.noteWritten(rows));
  }

  async remove(tx: Tx, stored: StoredVersion): Promise<void> {
    if (stored.resourceType === 'SearchParameter') this.registry.unregisterStored(stored.id);
    await tx.query({ name: 'sp_remove', text: statementFor(0, true, false), values: [stored.rid] });
  }
}

const batchStatements = new Map<number, string>();

/** INSERTs of many resources' rows (rid travels as a column array), per combination of tables that have rows. */
function batchStatementFor(mask: number, withText: boolean): string {
  const key = (mask << 1) | (withText ? 1 : 0);
  let text = batchStatements.get(key);
  if (text) return text;
  const ctes: string[] = [];
  let n = 0;
  TABLES.forEach((t, i) => {
    if (!(mask & (1 << i))) return;
    const args = [`$${++n}::int8[]`, ...t.cols.map(([, ty]) => `$${++n}::${ty}[]`)].join(', ');
    const cols = t.cols.map(([c]) => c).join(', ');
    if (t.name !== 'sp_token') {
      ctes.push(`m_${t.name} AS (INSERT INTO ${t.name} (rid, ${cols}) SELECT * FROM unnest(${args}))`);
      return;
    }
    const [p, ps] = [++n, ++n];
    ctes.push(`m_patients AS (SELECT u.place, p.rid FROM unnest($${ps}::text[]) WITH ORDINALITY AS u(id, place)
               JOIN resource p ON p.resource_type = 'Patient' AND p.id = u.id)`);
    ctes.push(`m_sp_token AS (INSERT INTO sp_token (rid, ${cols}, prid)
               SELECT u.rid, ${t.cols.map(([c]) => `u.${c}`).join(', ')},
                      ${pridOf('u.place IS NULL', 'u.place = 0', 'mp.rid')}
               FROM unnest(${args}, $${p}::int4[]) AS u(rid, ${cols}, place) LEFT JOIN m_patients mp ON mp.place = u.place)`);
  });
  if (withText) {
    const [r, c, nn] = [++n, ++n, ++n];
    ctes.push(`m_sp_text AS (INSERT INTO sp_text (rid, content, narrative)
               SELECT r, to_tsvector('simple', c), to_tsvector('simple', t) FROM unnest($${r}::int8[], $${c}::text[], $${nn}::text[]) AS u(r, c, t))`);
  }
  text = `WITH ${ctes.join(',\n')} SELECT 1`;
  batchStatements.set(key, text);
  return text;
}

export async function writeRows(q: Queryable, rid: string, rows: IndexRows, replace: boolean): Promise<void> {
  let mask = 0;
  const values: unknown[] = [rid];
  TABLES.forEach((t, i) => {
    const cols = rows[t.rows] as unknown as Record<string, unknown[]>;
    if (!cols.pid.length) return;
    mask |= 1 << i;
    for (const [c] of t.cols) values.push(cols[c]);
    if (t.name === 'sp_token') values.push(rows.patient);
  });
  const withText = !!(rows.content || rows.narrative);
  if (withText) values.push(rows.content, rows.narrative);
  if (!mask && !withText && !replace) return;
  const text = statementFor(mask, replace, withText);
  await q.query({ name: `sp_w${mask}_${replace ? 1 : 0}${withText ? 1 : 0}`, text, values });
}
