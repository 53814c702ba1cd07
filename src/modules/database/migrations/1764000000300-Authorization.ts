import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The SMART authorization server's state (src/modules/auth): everything oidc-provider persists (sessions, grants,
 * codes, tokens, interactions, jti replay cache) in one table keyed by model name and id, plus users, clients, signing
 * keys, EHR launch contexts and the context decided for each grant. Several hub processes share it.
 */
export class Authorization1764000000300 implements MigrationInterface {
  name = 'Authorization1764000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE auth_model (
      model text NOT NULL, id text NOT NULL, payload jsonb NOT NULL,
      grant_id text, uid text, user_code text,
      expires_at timestamptz, consumed_at timestamptz,
      PRIMARY KEY (model, id))`);
    await q.query(`CREATE INDEX auth_model_grant ON auth_model (grant_id) WHERE grant_id IS NOT NULL`);
    await q.query(`CREATE INDEX auth_model_uid ON auth_model (uid) WHERE uid IS NOT NULL`);
    await q.query(`CREATE INDEX auth_model_user_code ON auth_model (user_code) WHERE user_code IS NOT NULL`);
    await q.query(`CREATE INDEX auth_model_expires ON auth_model (expires_at) WHERE expires_at IS NOT NULL`);

    await q.query(`CREATE TABLE auth_client (
      client_id text PRIMARY KEY, metadata jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);

    await q.query(`CREATE TABLE auth_user (
      id text PRIMARY KEY, username text NOT NULL UNIQUE, password_hash text NOT NULL,
      fhir_user text, name text, active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now())`);

    // private signing keys (JWK) and cookie secrets, created by the first process that starts
    await q.query(`CREATE TABLE auth_key (kid text PRIMARY KEY, use text NOT NULL, jwk jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);

    // EHR launch: the `launch` value an app receives, bound to the patient/encounter the EHR had open
    await q.query(`CREATE TABLE auth_launch (
      id text PRIMARY KEY, context jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)`);

    // the SMART context (patient, encounter, fhirContext, banner, style) decided when a grant was approved
    await q.query(`CREATE TABLE auth_grant_context (
      grant_id text PRIMARY KEY, context jsonb NOT NULL, expires_at timestamptz NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['auth_grant_context', 'auth_launch', 'auth_key', 'auth_user', 'auth_client', 'auth_model']) await q.query(`DROP TABLE IF EXISTS ${t}`);
  }
}
