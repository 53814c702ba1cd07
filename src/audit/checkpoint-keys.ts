import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jose from 'node-jose';

/**
 * The key that signs audit checkpoints: a JWKS file (EC P-256, ES256) kept OUTSIDE the database — by default
 * `<DATA_DIR>/audit-signing-key.json`, or HUB_AUDIT_KEY_FILE — so someone who can rewrite the database cannot also
 * sign a checkpoint for a rewritten chain. Created on first start (mode 0600). Hub processes that share a database
 * must share this file. Verification needs only its public part.
 */
export async function loadOrCreateSigningKey(file: string): Promise<jose.JWK.Key> {
  if (!fs.existsSync(file)) {
    const store = jose.JWK.createKeyStore();
    await store.generate('EC', 'P-256', { use: 'sig', alg: 'ES256' });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(store.toJSON(true), null, 2), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // fails if another process created it first: theirs is kept
    } catch {
      /* created concurrently */
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const store = await jose.JWK.asKeyStore(fs.readFileSync(file, 'utf8'));
  const key = store.all({ use: 'sig' })[0] ?? store.all()[0];
  if (!key) throw new Error(`${file} holds no signing key`);
  return key;
}

export interface CheckpointPayload {
  seq: number;
  hash: string;
  time: string;
}

/** Signs {seq, hash, time} as a compact JWS (ES256, kid in the header). */
export async function signCheckpoint(key: jose.JWK.Key, payload: CheckpointPayload): Promise<string> {
  return (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: key.kid } as any }, key).update(JSON.stringify(payload), 'utf8').final()) as unknown as string;
}

/** The public keys that checkpoints are trusted from (kid → key); empty when the key file is not at hand. */
export function trustedKeys(file: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  if (!fs.existsSync(file)) return keys;
  const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const jwk of jwks.keys ?? []) {
    const { d: _private, ...pub } = jwk;
    keys.set(jwk.kid, createPublicKey({ key: pub, format: 'jwk' }));
  }
  return keys;
}

/**
 * Checks a compact JWS checkpoint against the trusted keys (plain node:crypto ES256: verifying thousands of
 * checkpoints stays cheap). Returns the payload, or the reason it cannot be trusted.
 */
export function verifyCheckpoint(jws: string, keys: Map<string, KeyObject>): { payload?: CheckpointPayload; error?: string } {
  const parts = jws.split('.');
  if (parts.length !== 3) return { error: 'not a compact JWS' };
  let header: any;
  let payload: any;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return { error: 'malformed JWS' };
  }
  if (header.alg !== 'ES256') return { error: `unexpected algorithm ${String(header.alg)}` };
  const key = keys.get(header.kid);
  if (!key) return { error: keys.size ? `signed by an unknown key (kid ${String(header.kid)})` : 'no trusted key available (audit signing key file not found)' };
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
  if (!ok) return { error: 'signature does not verify' };
  if (!Number.isSafeInteger(payload?.seq) || typeof payload?.hash !== 'string') return { error: 'payload is not a checkpoint' };
  return { payload };
}
