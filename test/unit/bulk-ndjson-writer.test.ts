import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NdjsonPartWriter } from '../../src/modules/bulk/ndjson-part-writer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-writer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const line = (i: number) => JSON.stringify({ resourceType: 'Patient', id: `p${i}` }); // 36 bytes + newline

describe('NdjsonPartWriter', () => {
  it('splits files at the size limit, never leaving a file empty', async () => {
    const w = await NdjsonPartWriter.open(dir, 'Patient', 'output', 100, { part: 1, bytes: 0, count: 0 });
    const touched = await w.write([0, 1, 2, 3, 4].map(line));
    await w.close();
    expect(touched.map((t) => [t.fileName, t.count])).toEqual([['Patient-1.ndjson', 2], ['Patient-2.ndjson', 2], ['Patient-3.ndjson', 1]]);
    expect(fs.readFileSync(path.join(dir, 'Patient-1.ndjson'), 'utf8')).toBe(`${line(0)}\n${line(1)}\n`);
    expect(w.position).toEqual({ part: 3, bytes: 37, count: 1 });
  });

  it('resumed from a checkpoint, cuts off what was written after it (a crash before the checkpoint committed)', async () => {
    const first = await NdjsonPartWriter.open(dir, 'Observation', 'output', 1000, { part: 1, bytes: 0, count: 0 });
    await first.write([line(0), line(1)]);
    const checkpoint = first.position;
    await first.write([line(2)]); // written, but its checkpoint never committed
    await first.close();
    const resumed = await NdjsonPartWriter.open(dir, 'Observation', 'output', 1000, checkpoint);
    await resumed.write([line(2), line(3)]); // the batch after the checkpoint, read again
    await resumed.close();
    expect(fs.readFileSync(path.join(dir, 'Observation-1.ndjson'), 'utf8')).toBe([0, 1, 2, 3].map((i) => `${line(i)}\n`).join(''));
  });
});
