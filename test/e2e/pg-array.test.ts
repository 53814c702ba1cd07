import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { arrayLiteral } from '../../src/modules/database/pg-array.js';

/**
 * `arrayLiteral` writes the array parameters of the index and audit inserts; PostgreSQL must read back exactly the
 * values it was given, whichever of its two paths (JSON text or element by element) wrote them.
 */
let pool: pg.Pool;

beforeAll(() => {
  const pid = fs.readFileSync(path.join(inject('dataDir'), 'pg', 'postmaster.pid'), 'utf8').split('\n');
  pool = new pg.Pool({ connectionString: `postgres://hub:hub@127.0.0.1:${pid[3].trim()}/hub`, max: 1 });
});

afterAll(async () => {
  await pool?.end();
});

const roundTrip = async (values: unknown[], type: string) =>
  (await pool.query({ text: `SELECT $1::${type}[] AS a`, values: [arrayLiteral(values)] })).rows[0].a;

describe('arrayLiteral', () => {
  it('plain strings, numbers and nulls (the JSON path) come back as given', async () => {
    const texts = ['a', '', 'NULL', 'null', ' spaced ', 'x,y', '{braces}', 'é ü 漢字 🎉', 'quote " inside', 'back\\slash', '\\', '"', 'a\\"b'];
    expect(await roundTrip(texts, 'text')).toEqual(texts);
    expect(await roundTrip(['x', null, 'y', null], 'text')).toEqual(['x', null, 'y', null]);
    expect(await roundTrip([1, -2, 3.5, 1e-7, 12345678901], 'numeric')).toEqual([1, -2, 3.5, 1e-7, 12345678901]);
    expect(await roundTrip([1, 2, null], 'int4')).toEqual([1, 2, null]);
    expect(await roundTrip([], 'text')).toEqual([]);
  });

  it('control characters, lone surrogates, undefined, Dates and non-finite numbers (the element path) too', async () => {
    const texts = ['line\nbreak', 'tab\there', 'bell\u0007', 'back\\nslash-n', 'cr\r\n', '\\\n'];
    expect(await roundTrip(texts, 'text')).toEqual(texts);
    expect(await roundTrip(['a', undefined, 'b'], 'text')).toEqual(['a', null, 'b']);
    expect(await roundTrip([new Date('2020-01-02T03:04:05.678Z')], 'timestamptz')).toEqual([new Date('2020-01-02T03:04:05.678Z')]);
    expect(await roundTrip([Number.NaN, 1], 'numeric')).toEqual([Number.NaN, 1]);
    expect(await roundTrip([Number.POSITIVE_INFINITY], 'float8')).toEqual([Number.POSITIVE_INFINITY]);
  });

  it('writes the same literal either way for values both paths accept', () => {
    expect(arrayLiteral(['a', null, 2, 'q"b\\'])).toBe('{"a",null,2,"q\\"b\\\\"}');
    expect(arrayLiteral(['a', undefined, 2])).toBe('{"a",NULL,2}');
  });
});
