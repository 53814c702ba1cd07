import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BulkOutput } from './bulk-job-store.js';

/** Where a type's output stands: the file being written and how far (what a checkpoint records). */
export interface PartState {
  part: number;
  bytes: number;
  count: number;
}

export function partFileName(resourceType: string, part: number): string {
  return `${resourceType}-${part}.ndjson`;
}

/**
 * Appends NDJSON lines to a type's files, starting the next file when the next line would pass `maxBytes`.
 * Opened from a checkpoint, it cuts the current file back to the checkpointed length: lines written after the
 * last checkpoint (before a crash or shutdown) are written again, never twice; finished files are not touched.
 */
export class NdjsonPartWriter {
  private file?: fs.FileHandle;

  private constructor(
    private readonly dir: string,
    private readonly resourceType: string,
    private readonly kind: BulkOutput['kind'],
    private readonly maxBytes: number,
    private state: PartState,
  ) {}

  static async open(dir: string, resourceType: string, kind: BulkOutput['kind'], maxBytes: number, state: PartState): Promise<NdjsonPartWriter> {
    const w = new NdjsonPartWriter(dir, resourceType, kind, maxBytes, { ...state });
    // a file resumed is cut back at once; a new one is created with its first line (no empty files)
    if (state.bytes > 0) await w.openCurrent(true);
    return w;
  }

  get position(): PartState {
    return { ...this.state };
  }

  private async openCurrent(resume: boolean): Promise<void> {
    const file = path.join(this.dir, partFileName(this.resourceType, this.state.part));
    if (resume) {
      await fs.truncate(file, this.state.bytes);
      this.file = await fs.open(file, 'a');
    } else {
      this.file = await fs.open(file, 'w');
    }
  }

  private output(): BulkOutput {
    const { part, bytes, count } = this.state;
    return { fileName: partFileName(this.resourceType, part), kind: this.kind, ordinal: part, resourceType: this.resourceType, count, bytes };
  }

  /** Writes the lines (JSON texts without newline); returns the files touched, with their counts so far. */
  async write(lines: string[]): Promise<BulkOutput[]> {
    const touched: BulkOutput[] = [];
    if (!lines.length) return touched;
    if (!this.file) await this.openCurrent(false);
    let chunk: string[] = [];
    for (const line of lines) {
      const size = Buffer.byteLength(line) + 1;
      if (this.state.count > 0 && this.state.bytes + size > this.maxBytes) {
        await this.file!.write(chunk.join(''));
        chunk = [];
        touched.push(this.output());
        await this.file!.close();
        this.state = { part: this.state.part + 1, bytes: 0, count: 0 };
        await this.openCurrent(false);
      }
      chunk.push(line, '\n');
      this.state.bytes += size;
      this.state.count++;
    }
    if (chunk.length) await this.file!.write(chunk.join(''));
    touched.push(this.output());
    return touched;
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }
}
