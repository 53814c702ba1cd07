import { randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Queryable } from '../database/db.js';
import { ORGANIZATION_REFERENCE } from './client-registry.js';

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const N = 16384;
const R = 8;
const P = 1;

/** A person who signs in: a practitioner (fhirUser Practitioner/..) or a patient (fhirUser Patient/..). */
export interface UserAccount {
  id: string;
  username: string;
  /** FHIR reference of the person, relative: Practitioner/123, Patient/456, RelatedPerson/.. */
  fhirUser?: string;
  name?: string;
  /** `Organization/<id>` the person works for; unset: a practitioner's PractitionerRoles tell (the consent stage) */
  organization?: string;
  active: boolean;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 });
  return timingSafeEqual(expected, actual);
}

const FHIR_USER = /^(Practitioner|Patient|RelatedPerson|PractitionerRole|Person)\/[A-Za-z0-9\-.]{1,64}$/;

function toAccount(row: any): UserAccount {
  return { id: row.id, username: row.username, fhirUser: row.fhir_user ?? undefined, name: row.name ?? undefined, organization: row.organization ?? undefined, active: row.active };
}

/** User accounts (auth_user): scrypt password hashes, linked to a Practitioner or Patient resource. */
export class UserAccounts {
  constructor(private readonly db: Queryable) {}

  async create(input: { username: string; password: string; fhirUser?: string; name?: string; organization?: string }): Promise<UserAccount> {
    if (!/^[\w.@+-]{1,128}$/.test(input.username)) throw new Error('username: 1-128 letters, digits or . @ + - _');
    if (typeof input.password !== 'string' || input.password.length < 8) throw new Error('password: at least 8 characters');
    if (input.fhirUser !== undefined && !FHIR_USER.test(input.fhirUser)) throw new Error('fhirUser must be a reference like Practitioner/123 or Patient/456');
    if (input.organization !== undefined) {
      if (typeof input.organization !== 'string' || !ORGANIZATION_REFERENCE.test(input.organization)) throw new Error('organization must be a reference like Organization/123');
      if (input.fhirUser?.startsWith('Patient/')) throw new Error('a patient acts for themselves: no organization');
    }
    const res = await this.db.query(
      `INSERT INTO auth_user (id, username, password_hash, fhir_user, name, organization) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [randomUUID(), input.username, await hashPassword(input.password), input.fhirUser ?? null, input.name ?? null, input.organization ?? null],
    );
    return toAccount(res.rows[0]);
  }

  async find(id: string): Promise<UserAccount | undefined> {
    const res = await this.db.query('SELECT * FROM auth_user WHERE id = $1', [id]);
    return res.rows[0] ? toAccount(res.rows[0]) : undefined;
  }

  async list(): Promise<UserAccount[]> {
    return (await this.db.query('SELECT * FROM auth_user ORDER BY username')).rows.map(toAccount);
  }

  async remove(idOrUsername: string): Promise<boolean> {
    const res = await this.db.query('DELETE FROM auth_user WHERE id = $1 OR username = $1', [idOrUsername]);
    return (res.rowCount ?? 0) > 0;
  }

  /** The active account with these credentials, or undefined (same work whether or not the user exists). */
  async authenticate(username: string, password: string): Promise<UserAccount | undefined> {
    const res = await this.db.query('SELECT * FROM auth_user WHERE username = $1', [username]);
    const row = res.rows[0];
    const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
    return ok && row?.active ? toAccount(row) : undefined;
  }
}

// a fixed hash to verify against for unknown users, so timing does not tell which usernames exist
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
