import { createHash, hash } from 'node:crypto';
import { TOKEN_OF } from './record-dictionary.js';

/**
 * Canonical JSON (the RFC 8785 shape for the values an AuditEvent holds): object keys sorted by UTF-16 code units,
 * no whitespace, strings and numbers as JSON.stringify writes them, undefined members dropped. The same record
 * always gives the same bytes, whoever serialises it.
 */
export function canonicalJson(value: unknown): string {
  // the native serialiser does the work; it only needs objects whose keys are in order (ours mostly are already)
  return JSON.stringify(inKeyOrder(value)) ?? 'null';
}

/** Frozen objects already found in canonical order (the shared codings of audit-event-builder.ts): not walked again. */
const frozenInOrder = new WeakSet<object>();

/**
 * The value itself when every object in it has its keys in order, else a copy that has. The hub builds its records
 * in order (audit-event-builder.ts), so this is a walk that copies nothing; a test keeps it so.
 */
export function inKeyOrder(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (frozenInOrder.has(value)) return value;
  const result = walk(value);
  if (result === value && Object.isFrozen(value)) frozenInOrder.add(value);
  return result;
}

function walk(value: object): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = inKeyOrder(value[i]);
      if (v !== value[i]) (copy ??= value.slice())[i] = v;
    }
    return copy ?? value;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1] < keys[i];
  let copy: Record<string, unknown> | undefined;
  if (!sorted) {
    copy = {};
    for (const k of keys.sort()) copy[k] = obj[k];
  }
  for (const k of keys) {
    const v = obj[k];
    const w = inKeyOrder(v);
    if (w !== v) (copy ??= { ...obj })[k] = w;
  }
  return copy ?? obj;
}

/**
 * Stored texts of parts that many records share (a requester's agents, audit-event-builder.ts), by identity: written
 * once, not for every record. Registered parts are deep-frozen, so their text cannot go stale.
 */
const SHARED_TEXT = new WeakMap<object, string>();

export function sharedPart<T extends object>(value: T): T {
  deepFreeze(value);
  SHARED_TEXT.set(value, write(value) ?? 'null');
  return value;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

/** `"key":` texts, cached: records use a few dozen keys. */
const keyTexts = new Map<string, string>();
const keyText = (k: string): string => {
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = `${JSON.stringify(k)}:`;
    if (keyTexts.size < 1000) keyTexts.set(k, t);
  }
  return t;
};

/**
 * The stored form of a record: canonical JSON (as `canonicalJson` writes it) except that the dictionary's constant
 * objects are written as their tokens (record-dictionary.ts), so `expandRecord(storedJson(v)) === canonicalJson(v)`.
 * Written here rather than by JSON.stringify because the tokens must be found by identity; measured, this walk is
 * also cheaper than the key-order check plus JSON.stringify of the whole (the constant parts are never walked).
 */
export function storedJson(value: unknown): string {
  return write(value) ?? 'null';
}

function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      return undefined; // undefined, functions, symbols: dropped from objects, null in arrays (as JSON.stringify)
  }
  if (value === null) return 'null';
  const token = TOKEN_OF.get(value);
  if (token !== undefined) return token;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return write((value as { toJSON: () => unknown }).toJSON());
  if (Array.isArray(value)) {
    const text = SHARED_TEXT.get(value);
    if (text !== undefined) return text;
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (write(value[i]) ?? 'null');
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  let keys = Object.keys(obj);
  for (let i = 1; i < keys.length; i++) {
    if (!(keys[i - 1] < keys[i])) {
      keys = [...keys].sort();
      break;
    }
  }
  let out = '{';
  for (const k of keys) {
    const v = write(obj[k]);
    if (v === undefined) continue;
    out += (out.length > 1 ? ',' : '') + keyText(k) + v;
  }
  return out + '}';
}

/** The chain link: SHA-256(previous hash ‖ UTF-8 bytes of the record's canonical JSON). */
export function chainHash(prevHash: Buffer, canonical: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonical, 'utf8').digest();
}

/**
 * `chainHash` in hex, on the previous hash in hex, through one reused buffer (one-shot hashing: no Hash object per
 * record). The text may come in up to three parts (hashed as their concatenation): each part is encoded straight into
 * the buffer, so a part built by concatenation is flattened once, in place, and is flat when it is used again.
 */
export class Hasher {
  private buf = Buffer.allocUnsafe(1 << 16);

  link(prevHex: string, text: string, more = '', last = ''): string {
    for (;;) {
      const buf = this.buf;
      buf.write(prevHex, 0, 'hex');
      let n = 32 + buf.write(text, 32, 'utf8');
      if (more) n += buf.write(more, n, 'utf8');
      if (last) n += buf.write(last, n, 'utf8');
      // a full buffer may have cut a part short: grow it and write again
      if (n < buf.length - 4) return hash('sha256', buf.subarray(0, n), 'hex');
      this.buf = Buffer.allocUnsafe(buf.length * 2);
    }
  }
}

/** The prev_hash of record 1. */
export const GENESIS_HASH = Buffer.alloc(32);
