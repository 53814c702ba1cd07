import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Master patient index (src/mpi): the matching features and blocking keys of every source Patient, the links
 * between source and golden Patients (and between golden Patients), term frequencies, saved m/u parameters and
 * relink jobs. Golden records themselves are ordinary Patient resources in `resource`.
 */
export class MasterPatientIndex1764000000300 implements MigrationInterface {
  name = 'MasterPatientIndex1764000000300';

  async up(q: QueryRunner): Promise<void> {
    // one row per current, non-deleted source Patient: its normalised features (so candidates need no JSON parsing)
    await q.query(`CREATE TABLE mpi_record (
        patient_id text PRIMARY KEY,
        features   jsonb NOT NULL,
        updated    timestamptz NOT NULL DEFAULT now()
      )`);
    // blocking keys; candidate retrieval is one statement over (kind, value)
    await q.query(`CREATE TABLE mpi_key (patient_id text NOT NULL, kind text NOT NULL, value text NOT NULL)`);
    await q.query(`CREATE INDEX mpi_key_value ON mpi_key (kind, value) INCLUDE (patient_id)`);
    await q.query(`CREATE INDEX mpi_key_patient ON mpi_key (patient_id)`);
    // links: source → golden (MATCH, POSSIBLE_MATCH, NO_MATCH), golden → golden (POSSIBLE_DUPLICATE, REDIRECT)
    await q.query(`CREATE TABLE mpi_link (
        source_id text NOT NULL,
        golden_id text NOT NULL,
        state     text NOT NULL CHECK (state IN ('MATCH', 'POSSIBLE_MATCH', 'NO_MATCH', 'POSSIBLE_DUPLICATE', 'REDIRECT')),
        origin    text NOT NULL CHECK (origin IN ('AUTO', 'MANUAL')),
        score     double precision,
        breakdown jsonb,
        created   timestamptz NOT NULL DEFAULT now(),
        updated   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source_id, golden_id)
      )`);
    // a source has at most one MATCH link (and a merged golden record one REDIRECT)
    await q.query(`CREATE UNIQUE INDEX mpi_link_one_match ON mpi_link (source_id) WHERE state IN ('MATCH', 'REDIRECT')`);
    await q.query(`CREATE INDEX mpi_link_golden ON mpi_link (golden_id, state)`);
    await q.query(`CREATE INDEX mpi_link_review ON mpi_link (state, updated) WHERE state IN ('POSSIBLE_MATCH', 'POSSIBLE_DUPLICATE')`);
    // golden records the MPI manages (active, or redirected after a merge)
    await q.query(`CREATE TABLE mpi_golden (
        golden_id text PRIMARY KEY,
        status    text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'redirected')),
        created   timestamptz NOT NULL DEFAULT now()
      )`);
    // term frequencies of exact values of TF-adjusted fields; field '' value '' holds the number of records
    await q.query(`CREATE TABLE mpi_term_frequency (field text NOT NULL, value text NOT NULL, count bigint NOT NULL, PRIMARY KEY (field, value))`);
    // m/u estimated by `mpi estimate` (override the rules file), keyed comparison/level
    await q.query(`CREATE TABLE mpi_parameter (key text PRIMARY KEY, m double precision NOT NULL, u double precision NOT NULL, estimated timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE mpi_relink_job (
        id           bigserial PRIMARY KEY,
        status       text        NOT NULL DEFAULT 'queued',
        patient_ids  text[],
        after_id     text        NOT NULL DEFAULT '',
        processed    bigint      NOT NULL DEFAULT 0,
        total        bigint,
        error        text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['mpi_relink_job', 'mpi_parameter', 'mpi_term_frequency', 'mpi_golden', 'mpi_link', 'mpi_key', 'mpi_record']) await q.query(`DROP TABLE ${t}`);
  }
}
