import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search index: one typed table per search parameter type, keyed by the resource's internal `rid` and the
 * parameter key `pid` (a hash of `Type.code`, see src/fhir/search/params). Rows exist for current, non-deleted
 * versions only. The reasons for this shape are in src/fhir/search/README.md.
 */
export class SearchIndex1764000000100 implements MigrationInterface {
  name = 'SearchIndex1764000000100';

  async up(q: QueryRunner): Promise<void> {
    // string values: folded (lower case, no accents, first 200 chars; C collation so LIKE 'x%' uses the btree) + exact
    await q.query(`CREATE TABLE sp_string (rid bigint NOT NULL, pid integer NOT NULL, norm text COLLATE "C" NOT NULL, exact text NOT NULL)`);
    await q.query(`CREATE INDEX sp_string_value ON sp_string (pid, norm)`);
    await q.query(`CREATE INDEX sp_string_rid ON sp_string (rid)`);

    await q.query(`CREATE TABLE sp_token (rid bigint NOT NULL, pid integer NOT NULL, sys text, code text, txt text)`);
    await q.query(`CREATE INDEX sp_token_value ON sp_token (pid, code, sys)`);
    await q.query(`CREATE INDEX sp_token_rid ON sp_token (rid)`);

    // date ranges [lo, hi] (inclusive, millisecond precision; open Period ends are ±infinity)
    await q.query(`CREATE TABLE sp_date (rid bigint NOT NULL, pid integer NOT NULL, lo timestamptz NOT NULL, hi timestamptz NOT NULL)`);
    await q.query(`CREATE INDEX sp_date_lo ON sp_date (pid, lo, hi)`);
    await q.query(`CREATE INDEX sp_date_hi ON sp_date (pid, hi, lo)`);
    await q.query(`CREATE INDEX sp_date_rid ON sp_date (rid)`);

    await q.query(`CREATE TABLE sp_number (rid bigint NOT NULL, pid integer NOT NULL, lo numeric NOT NULL, hi numeric NOT NULL)`);
    await q.query(`CREATE INDEX sp_number_value ON sp_number (pid, lo)`);
    await q.query(`CREATE INDEX sp_number_rid ON sp_number (rid)`);

    // quantities as stored (system, code, [lo, hi]) and in UCUM base units where convertible (ccode, [clo, chi])
    await q.query(`CREATE TABLE sp_quantity (rid bigint NOT NULL, pid integer NOT NULL, sys text, code text, lo numeric, hi numeric,
                   ccode text, clo numeric, chi numeric)`);
    await q.query(`CREATE INDEX sp_quantity_value ON sp_quantity (pid, lo)`);
    await q.query(`CREATE INDEX sp_quantity_canonical ON sp_quantity (pid, ccode, clo) WHERE ccode IS NOT NULL`);
    await q.query(`CREATE INDEX sp_quantity_rid ON sp_quantity (rid)`);

    // references: local target (rtype, tid, ver), absolute/canonical url, or logical identifier
    await q.query(`CREATE TABLE sp_reference (rid bigint NOT NULL, pid integer NOT NULL, rtype text, tid text, ver text, url text,
                   idsys text, idval text)`);
    await q.query(`CREATE INDEX sp_reference_target ON sp_reference (pid, tid, rtype) INCLUDE (rid)`);
    await q.query(`CREATE INDEX sp_reference_url ON sp_reference (pid, url) WHERE url IS NOT NULL`);
    await q.query(`CREATE INDEX sp_reference_identifier ON sp_reference (pid, idval) WHERE idval IS NOT NULL`);
    await q.query(`CREATE INDEX sp_reference_rid ON sp_reference (rid)`);

    await q.query(`CREATE TABLE sp_uri (rid bigint NOT NULL, pid integer NOT NULL, uri text COLLATE "C" NOT NULL)`);
    await q.query(`CREATE INDEX sp_uri_value ON sp_uri (pid, uri)`);
    await q.query(`CREATE INDEX sp_uri_rid ON sp_uri (rid)`);

    // composites: first component a token, second a token/string (b_sys, b_code), quantity/number (b_lo, b_hi,
    // unit in b_sys/b_code) or date (b_dlo, b_dhi); an optional third is a number range (MolecularSequence)
    await q.query(`CREATE TABLE sp_composite (rid bigint NOT NULL, pid integer NOT NULL, a_sys text, a_code text, b_sys text, b_code text,
                   b_lo numeric, b_hi numeric, b_dlo timestamptz, b_dhi timestamptz, c_lo numeric, c_hi numeric)`);
    await q.query(`CREATE INDEX sp_composite_value ON sp_composite (pid, a_code, b_code)`);
    await q.query(`CREATE INDEX sp_composite_rid ON sp_composite (rid)`);

    // full text: _content (all strings) and _text (narrative)
    await q.query(`CREATE TABLE sp_text (rid bigint PRIMARY KEY, content tsvector, narrative tsvector)`);
    await q.query(`CREATE INDEX sp_text_content ON sp_text USING gin (content)`);
    await q.query(`CREATE INDEX sp_text_narrative ON sp_text USING gin (narrative)`);

    // $reindex jobs (Postgres-backed: survive restarts, any hub process may run them)
    await q.query(`CREATE TABLE search_reindex_job (
        id            bigserial PRIMARY KEY,
        status        text        NOT NULL DEFAULT 'queued',
        resource_types text[],
        after_rid     bigint      NOT NULL DEFAULT 0,
        max_rid       bigint,
        processed     bigint      NOT NULL DEFAULT 0,
        total         bigint,
        error         text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        locked_until  timestamptz
      )`);
    await q.query(`CREATE INDEX search_reindex_job_open ON search_reindex_job (status) WHERE status IN ('queued', 'running')`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['search_reindex_job', 'sp_text', 'sp_composite', 'sp_uri', 'sp_reference', 'sp_quantity', 'sp_number', 'sp_date', 'sp_token', 'sp_string']) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}
