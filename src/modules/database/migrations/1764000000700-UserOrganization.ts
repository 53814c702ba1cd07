import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A user account may name the organization its person works for (`Organization/<id>`): their tokens act for it
 * (Principal.organization, which consents match and which owns what they write). Clients keep theirs in their
 * metadata (auth_client.metadata->>'hub_organization'), so they need no column.
 */
export class UserOrganization1764000000700 implements MigrationInterface {
  name = 'UserOrganization1764000000700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE auth_user ADD COLUMN organization text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE auth_user DROP COLUMN IF EXISTS organization`);
  }
}
