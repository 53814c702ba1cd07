import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import jose from 'node-jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub.js';
import { chainHash } from '../../src/audit/canonical-json.js';
import { recordText } from '../../src/audit/audit-record.js';
import { AuditTrail, DCM } from '../../src/audit/audit-trail.js';
import { http } from '../support/hub.js';
import { params } from './audit-support.js';
import { freePort } from '../support/ports.js';

/**
 * Tampering with the audit trail as a database superuser (triggers disabled) is detected by $verify and by
 * `npm run hub -- audit verify`, each finding pointing at the right record. These tests rewrite the chain, so they
 * run against a hub of their own (own embedded PostgreSQL), never the shared one; each tamper is undone before the
 * next, except the truncated tail, which comes last.
 */


let hub: Hub;
let dataDir: string;
let dbUrl: string;
let db: pg.Pool;
let fhir: string;

/** Runs statements as superuser with the append-only triggers off (session_replication_role = replica). */
async function tamper(...statements: [string, unknown[]?][]): Promise<void> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    for (const [sql, values] of statements) await c.query(sql, values);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK');
    throw e;
  } finally {
    c.release();
  }
}

async function verify() {
  const res = await http('GET', `${fhir}/AuditEvent/$verify`);
  expect(res.status).toBe(200);
  return params(res.body);
}

async function row(seq: number) {
  return (await db.query('SELECT * FROM audit_event WHERE seq = $1', [seq])).rows[0];
}

const insertRow = (r: any): [string, unknown[]] => [
  'INSERT INTO audit_event (seq, prev_hash, hash, content, id, recorded, patients, agents, entities, request_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)',
  [r.seq, r.prev_hash, r.hash, r.content, r.id, r.recorded, r.patients, r.agents, r.entities, r.request_id],
];

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli/hub-cli.js', 'audit', 'verify', '--key', path.join(dataDir, 'audit-signing-key.json'), ...args], {
      env: { ...process.env, DATABASE_URL: dbUrl, LOG_LEVEL: 'error' },
    });
    return { code: 0, out: stdout };
  } catch (e: any) {
    return { code: e.code, out: String(e.stdout) };
  }
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-audit-tamper-'));
  const embeddedPgPort = await freePort();
  hub = await startHub({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    embeddedPgPort,
    logLevel: 'fatal', // the audit-failure test logs its (expected) 500s
    fhirBaseUrl: 'http://127.0.0.1:0/fhir',
    auditCheckpointRecords: 10,
    auditCheckpointSeconds: 1,
    authEnabled: false, // this hub is about the chain; authorization has its own tests
  });
  fhir = hub.config.fhirBaseUrl;
  dbUrl = `postgres://hub:hub@localhost:${embeddedPgPort}/hub`;
  db = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const p = await http('POST', `${fhir}/Patient`, { resourceType: 'Patient', name: [{ family: 'Tamper' }] });
  for (let i = 0; i < 40; i++) await http('GET', `${fhir}/Patient/${p.body.id}`);
  // wait for a checkpoint covering everything so far
  for (let i = 0; i < 50; i++) {
    const cp = await db.query('SELECT max(seq) AS seq FROM audit_checkpoint');
    if (Number(cp.rows[0].seq) >= 41) break;
    await new Promise((r) => setTimeout(r, 200));
  }
}, 180_000);

afterAll(async () => {
  await db?.end();
  await hub?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('audit trail tamper evidence (own hub and database)', () => {
  it('the hub runs as a superuser here (so the tamper tests below are real), and the tables are append-only', async () => {
    expect((await db.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(true);
    for (const sql of ['UPDATE audit_event SET content = content WHERE seq = 1', 'DELETE FROM audit_event WHERE seq = 1', 'TRUNCATE audit_event', 'DELETE FROM audit_checkpoint', 'TRUNCATE audit_checkpoint']) {
      await expect(db.query(sql), sql).rejects.toThrow(/append-only/);
    }
    const v = await verify();
    expect(v.problem).toBeUndefined();
    expect(v.result).toEqual([true]);
    expect(v.checkpoints[0]).toBeGreaterThanOrEqual(1);
    expect(v.checkpointedSeq[0]).toBeGreaterThanOrEqual(41);
    expect((await cli()).code).toBe(0);
  });

  it('a changed field of a middle record: hash-mismatch at that record, expected vs stored hash', async () => {
    const before = await row(12);
    await tamper([`UPDATE audit_event SET content = replace(content, '"outcome":"0"', '"outcome":"8"') WHERE seq = 12`]);
    const v = await verify();
    expect(v.result).toEqual([false]);
    expect(v.problem).toHaveLength(1);
    const [p] = v.problem;
    expect(p.kind).toEqual(['hash-mismatch']);
    expect(p.position).toEqual([12]);
    expect(p.id).toEqual([before.id]);
    expect(p.stored).toEqual([before.hash.toString('hex')]);
    expect(p.expected[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(p.expected[0]).not.toBe(p.stored[0]);
    const c = await cli();
    expect(c.code).toBe(1);
    expect(c.out).toContain(`hash-mismatch at position 12 (AuditEvent/${before.id})`);
    await tamper([`UPDATE audit_event SET content = $1 WHERE seq = 12`, [before.content]]);
    expect((await verify()).result).toEqual([true]);

    // the searchable columns are covered too: hiding an access from a patient's $access-log is detected
    const r13 = await row(13);
    await tamper([`UPDATE audit_event SET patients = '{}' WHERE seq = 13`]);
    const v13 = await verify();
    expect([v13.problem[0].kind[0], v13.problem[0].position[0], v13.problem[0].id[0]]).toEqual(['hash-mismatch', 13, r13.id]);
    await tamper([`UPDATE audit_event SET patients = $1 WHERE seq = 13`, [r13.patients]]);
    expect((await verify()).result).toEqual([true]);
  });

  it('a deleted record: missing-record at its position', async () => {
    const gone = await row(15);
    const next = await row(16);
    await tamper(['DELETE FROM audit_event WHERE seq = 15']);
    const v = await verify();
    expect(v.problem).toHaveLength(1);
    expect([v.problem[0].kind[0], v.problem[0].position[0], v.problem[0].id[0]]).toEqual(['missing-record', 15, next.id]);
    expect(v.records).toEqual([14]);
    await tamper(insertRow(gone));
    expect((await verify()).result).toEqual([true]);
  });

  it('two records reordered: broken-link at the first swapped position', async () => {
    const [a, b] = [await row(17), await row(18)];
    const swap = (): [string, unknown[]?][] => [['UPDATE audit_event SET seq = -1 WHERE seq = 17'], ['UPDATE audit_event SET seq = 17 WHERE seq = 18'], ['UPDATE audit_event SET seq = 18 WHERE seq = -1']];
    await tamper(...swap());
    const v = await verify();
    expect(v.problem).toHaveLength(1);
    expect([v.problem[0].kind[0], v.problem[0].position[0], v.problem[0].id[0]]).toEqual(['broken-link', 17, b.id]);
    expect(v.problem[0].expected).toEqual([(await row(16)).hash.toString('hex')]);
    expect(v.problem[0].stored).toEqual([a.hash.toString('hex')]);
    await tamper(...swap());
    expect((await verify()).result).toEqual([true]);
  });

  it('a chain rewritten consistently from a middle record (all later hashes recomputed): the signed checkpoint disagrees', async () => {
    const head = Number((await db.query('SELECT seq FROM audit_chain_head')).rows[0].seq);
    const checkpointsBefore = Number((await db.query('SELECT coalesce(max(n), 0) AS n FROM audit_checkpoint')).rows[0].n);
    const originals = (await db.query('SELECT * FROM audit_event WHERE seq >= 20 ORDER BY seq')).rows;
    let prev: Buffer = (await row(19)).hash;
    const rewritten: [string, unknown[]][] = [];
    for (const r of originals) {
      const content = r.seq === '20' ? r.content.replace('"outcome":"0"', '"outcome":"8"') : r.content;
      const hash = chainHash(prev, recordText(r.seq, content, { id: r.id, recorded: r.recorded.toISOString(), patients: r.patients, agents: r.agents, entities: r.entities, requestId: r.request_id }));
      rewritten.push(['UPDATE audit_event SET content = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [r.seq, content, prev, hash]]);
      prev = hash;
    }
    await tamper(...rewritten, ['UPDATE audit_chain_head SET hash = $1 WHERE seq = $2', [prev, head]]);
    const v = await verify();
    expect(v.result).toEqual([false]);
    const kinds = v.problem.map((p: any) => p.kind[0]);
    expect(kinds.every((k: string) => k === 'checkpoint-mismatch'), JSON.stringify(v.problem)).toBe(true);
    // the first checkpoint after the rewritten record is the first to disagree
    const firstCp = Number((await db.query('SELECT min(seq) AS s FROM audit_checkpoint WHERE seq >= 20')).rows[0].s);
    expect(v.problem[0].position).toEqual([firstCp]);
    await tamper(...originals.map((r: any): [string, unknown[]] => ['UPDATE audit_event SET content = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [r.seq, r.content, r.prev_hash, r.hash]]));
    // the head moved on meanwhile ($verify's own records): they link to the rewritten head; restore them too
    const after = (await db.query('SELECT * FROM audit_event WHERE seq > $1 ORDER BY seq', [originals.at(-1).seq])).rows;
    prev = originals.at(-1).hash;
    const relinked: [string, unknown[]][] = [];
    for (const r of after) {
      const hash = chainHash(prev, recordText(r.seq, r.content, { id: r.id, recorded: r.recorded.toISOString(), patients: r.patients, agents: r.agents, entities: r.entities, requestId: r.request_id }));
      relinked.push(['UPDATE audit_event SET prev_hash = $2, hash = $3 WHERE seq = $1', [r.seq, prev, hash]]);
      prev = hash;
    }
    // lock the head while relinking, so no append slips in between; a checkpoint the hub signed while the chain was
    // rewritten (every second here) signed the rewritten head: part of the tampering, removed with it
    await tamper(
      ['SELECT * FROM audit_chain_head FOR UPDATE'],
      ...relinked,
      ['UPDATE audit_chain_head SET hash = $1', [prev]],
      ['DELETE FROM audit_checkpoint WHERE n > $1', [checkpointsBefore]],
    );
    const ok = await verify();
    expect(ok.problem, JSON.stringify(ok.problem)).toBeUndefined();
  });

  it('forged checkpoints: a foreign key, an altered payload, moved columns', async () => {
    const real = (await db.query('SELECT n, seq, hash, jws FROM audit_checkpoint ORDER BY n LIMIT 1')).rows[0];
    const foreign = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
    const r5 = await row(5);
    const payload = { seq: 5, hash: r5.hash.toString('hex'), time: new Date().toISOString() };
    const foreignJws = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: foreign.kid } as any }, foreign).update(JSON.stringify(payload)).final()) as unknown as string;
    const [h, , s] = real.jws.split('.');
    const altered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(real.jws.split('.')[1], 'base64url').toString()), seq: 5, hash: payload.hash })).toString('base64url')}.${s}`;
    const insert = (seq: number, hash: Buffer, jws: string): [string, unknown[]] => ['INSERT INTO audit_checkpoint (seq, hash, signed, jws) VALUES ($1, $2, now(), $3)', [seq, hash, jws]];
    await tamper(insert(5, r5.hash, foreignJws), insert(5, r5.hash, altered), insert(7, (await row(7)).hash, real.jws));
    const v = await verify();
    expect(v.result).toEqual([false]);
    const msgs = v.problem.map((p: any) => `${p.kind[0]}@${p.position[0]}: ${p.message[0]}`);
    expect(msgs).toHaveLength(3);
    expect(msgs[0]).toMatch(/^checkpoint-forged@5: .*unknown key/);
    expect(msgs[1]).toMatch(/^checkpoint-forged@5: .*signature does not verify/);
    expect(msgs[2]).toMatch(/^checkpoint-forged@7: .*differ from what was signed/);
    // by content: the signer may have added a real checkpoint meanwhile (every second here)
    await tamper(['DELETE FROM audit_checkpoint WHERE jws = ANY($1) AND (jws <> $2 OR seq = 7)', [[foreignJws, altered, real.jws], real.jws]]);
    expect((await verify()).result).toEqual([true]);

    // a checkpoint kept outside the database (npm run hub -- audit checkpoint) can be checked too
    const c = await cli('--checkpoint', foreignJws);
    expect(c.code).toBe(1);
    expect(c.out).toMatch(/checkpoint-forged .*given checkpoint 1: signed by an unknown key/);
    expect((await cli('--checkpoint', real.jws)).code).toBe(0);
  });

  it('AuditTrail.record: events from outside the pipeline (a login) join the same chain', async () => {
    const trail = hub.app.get(AuditTrail);
    const event = await trail.record({
      type: { system: DCM, code: '110114', display: 'User Authentication' },
      subtype: [{ system: DCM, code: '110122', display: 'Login' }],
      action: 'E',
      status: 401,
      outcomeDesc: 'wrong password',
      principal: { kind: 'user', userId: 'alice', clientId: 'portal', address: '10.0.0.7' },
      patients: ['p-login'],
      requestId: 'login-req-1',
      door: 'oauth',
    });
    const stored = await http('GET', `${fhir}/AuditEvent/${event!.id}`);
    expect(stored.body).toMatchObject({ outcome: '4', type: { code: '110114' }, outcomeDesc: 'wrong password' });
    expect((await http('GET', `${fhir}/AuditEvent?agent:identifier=alice&_total=accurate&_count=0`)).body.total).toBe(1);
    expect((await http('GET', `${fhir}/AuditEvent?agent:identifier=portal&patient=p-login&_total=accurate&_count=0`)).body.total).toBe(1);
    const log = params((await http('GET', `${fhir}/Patient/p-login/$access-log`)).body);
    expect(log.access[0]).toMatchObject({ app: ['portal'], who: ['alice'], address: ['10.0.0.7'], outcome: ['4'] });
    expect((await verify()).result).toEqual([true]);
  });

  it('awkward values (quotes, backslashes, commas, braces, spaces, "NULL", non-ASCII) are hashed as the verifier renders them', async () => {
    const trail = hub.app.get(AuditTrail);
    const odd = ['a"b', 'c\\d', 'e,f', '{g}', 'h i', 'NULL', 'ümlaut €', ''];
    const event = await trail.record({
      type: { system: DCM, code: '110114', display: 'User "Authentication" \\ ü' },
      action: 'E',
      status: 200,
      principal: { kind: 'user', userId: odd.join('|'), clientId: 'c"l,i{e}nt é', address: '10.0.0.8' },
      patients: odd.filter(Boolean),
      entities: odd.map((v) => `Thing/${v}`),
      requestId: 'req "x" \\ é',
      door: 'oauth',
    });
    const stored = await http('GET', `${fhir}/AuditEvent/${event!.id}`);
    expect(stored.body.type.display).toBe('User "Authentication" \\ ü');
    const v = await verify();
    expect(v.problem, JSON.stringify(v.problem)).toBeUndefined();
    expect(v.result).toEqual([true]);
    // and changing one such value is found
    const seq = Number((await db.query('SELECT seq FROM audit_event WHERE id = $1', [event!.id])).rows[0].seq);
    const before = await row(seq);
    await tamper(['UPDATE audit_event SET entities = array_replace(entities, $2, $3) WHERE seq = $1', [seq, 'Thing/a"b', 'Thing/a\\"b']]);
    const broken = await verify();
    expect(broken.problem?.[0]?.kind).toEqual(['hash-mismatch']);
    expect(broken.problem?.[0]?.position).toEqual([seq]);
    await tamper(['UPDATE audit_event SET entities = $2 WHERE seq = $1', [seq, before.entities]]);
    expect((await verify()).result).toEqual([true]);
  });

  it('no write and no answer without its record: when the record cannot be written, the create fails and nothing is stored', async () => {
    await db.query(`CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.request_id LIKE 'fail-audit-%' THEN RAISE EXCEPTION 'audit storage failure (test)'; END IF; RETURN NEW; END $$`);
    await db.query('CREATE TRIGGER fail_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION fail_audit()');
    try {
      const system = `urn:tamper-${Date.now()}`;
      const create = await http('POST', `${fhir}/Patient`, { resourceType: 'Patient', identifier: [{ system, value: '1' }] }, { 'x-request-id': 'fail-audit-create' });
      expect(create.status).toBe(500);
      expect(create.body.resourceType).toBe('OperationOutcome');
      const update = await http('PUT', `${fhir}/Patient/tamper-put`, { resourceType: 'Patient', id: 'tamper-put', identifier: [{ system, value: '2' }] }, { 'x-request-id': 'fail-audit-update' });
      expect(update.status).toBe(500);
      const read = await http('GET', `${fhir}/Patient?identifier=${system}|`, undefined, { 'x-request-id': 'fail-audit-read' });
      expect(read.status).toBe(500);
      const found = await http('GET', `${fhir}/Patient?identifier=${system}|&_total=accurate`);
      expect(found.body.total).toBe(0);
    } finally {
      await db.query('DROP TRIGGER fail_audit ON audit_event');
      await db.query('DROP FUNCTION fail_audit()');
    }
    expect((await verify()).result).toEqual([true]);
  });

  it('a truncated tail (head moved back too): tail-missing from the first removed record', async () => {
    // wait until a checkpoint covers the current head
    let cpSeq = 0;
    for (let i = 0; i < 50; i++) {
      const [h, cp] = await Promise.all([db.query('SELECT seq FROM audit_chain_head'), db.query('SELECT max(seq) AS seq FROM audit_checkpoint')]);
      cpSeq = Number(cp.rows[0].seq);
      if (cpSeq >= Number(h.rows[0].seq)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const keep = cpSeq - 3;
    const last = await row(keep);
    await tamper(['SELECT * FROM audit_chain_head FOR UPDATE'], ['DELETE FROM audit_event WHERE seq > $1', [keep]], ['UPDATE audit_chain_head SET seq = $1, hash = $2', [keep, last.hash]]);
    // the CLI first: $verify's own record is appended after it answers (and then sits where the removed ones were)
    const c = await cli();
    expect(c.code).toBe(1);
    expect(c.out).toContain(`tail-missing at position ${keep + 1}`);
    const v = await verify();
    expect(v.result).toEqual([false]);
    expect(v.problem).toHaveLength(1);
    expect([v.problem[0].kind[0], v.problem[0].position[0]]).toEqual(['tail-missing', keep + 1]);
    expect(v.problem[0].message[0]).toContain(`records ${keep + 1}..${cpSeq} were removed`);
  });
});
