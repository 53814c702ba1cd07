import { rm } from 'node:fs/promises';
import path from 'node:path';
import { loadHubConfig } from '../../modules/config/hub-config.js';
import { loadBulkConfig } from '../../modules/bulk/bulk-config.js';
import type { CliCommand } from '../cli-command.js';

/** Operators' view of bulk data jobs ($export, $import, uploads). */
export const BULK_COMMANDS: CliCommand[] = [
  {
    name: 'bulk jobs',
    usage: 'bulk jobs [--all]',
    summary: 'list bulk data jobs (unfinished ones; --all: every job still kept)',
    async run(args, db) {
      const all = args.includes('--all');
      const res = await db.query(
        `SELECT id::text, kind, state, coalesce(client_id, '-') AS client, processed, created_at, finished_at, locked_by IS NOT NULL AS leased, error
         FROM bulk_job ${all ? '' : `WHERE state IN ('queued', 'running')`} ORDER BY created_at DESC LIMIT 200`,
      );
      for (const r of res.rows) {
        const when = r.finished_at ? `finished ${new Date(r.finished_at).toISOString()}` : `created ${new Date(r.created_at).toISOString()}`;
        process.stdout.write(`${r.id}  ${r.kind.padEnd(6)}  ${r.state.padEnd(9)}${r.leased ? ' (leased)' : ''}  client ${r.client}  ${r.processed} resources  ${when}${r.error ? `  error: ${r.error}` : ''}\n`);
      }
      if (!res.rows.length) process.stdout.write(all ? 'no bulk jobs\n' : 'no unfinished bulk jobs\n');
      return 0;
    },
  },
  {
    name: 'bulk cancel',
    usage: 'bulk cancel <job id>',
    summary: 'cancel a bulk data job and delete its files',
    async run(args, db) {
      const id = args[0];
      if (!id || !/^[0-9a-f-]{36}$/.test(id)) throw new Error('a job id (uuid) is required');
      const res = await db.query(`DELETE FROM bulk_job WHERE id = $1`, [id]);
      if (!res.rowCount) {
        process.stdout.write(`no job ${id}\n`);
        return 1;
      }
      await rm(path.join(loadBulkConfig(loadHubConfig()).dir, id), { recursive: true, force: true });
      process.stdout.write(`cancelled ${id}\n`);
      return 0;
    },
  },
];
