import fs from 'node:fs';
import { loadHubConfig } from '../../modules/config/hub-config.js';
import type { Db } from '../../modules/database/db.js';
import { formatReport, verifyAuditChain } from '../../audit/audit-verifier.js';
import { trustedKeys } from '../../audit/checkpoint-keys.js';
import type { CliCommand } from '../cli-command.js';

function option(args: string[], name: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === name && args[i + 1]) out.push(args[i + 1]);
    else if (a.startsWith(`${name}=`)) out.push(a.slice(name.length + 1));
  });
  return out;
}

/** `audit verify`: walks the chain and checks the checkpoints; exit code 0 when intact, 1 when broken. */
export const auditVerify: CliCommand = {
  name: 'audit verify',
  usage: 'audit verify [--key FILE] [--checkpoint JWS|@FILE]... [--json]',
  summary: 'verify the audit hash chain and its signed checkpoints',
  async run(args: string[], db: Db): Promise<number> {
    const keyFile = option(args, '--key')[0] ?? loadHubConfig().auditKeyFile;
    const external = option(args, '--checkpoint').map((c) => (c.startsWith('@') ? fs.readFileSync(c.slice(1), 'utf8').trim() : c));
    const report = await verifyAuditChain(db, trustedKeys(keyFile), external);
    process.stdout.write((args.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
    return report.ok ? 0 : 1;
  },
};

/** `audit checkpoint`: prints the newest signed checkpoint, to keep outside the database. */
export const auditCheckpoint: CliCommand = {
  name: 'audit checkpoint',
  usage: 'audit checkpoint',
  summary: 'print the newest signed audit checkpoint (JWS) to keep elsewhere',
  async run(_args: string[], db: Db): Promise<number> {
    const res = await db.query('SELECT jws FROM audit_checkpoint ORDER BY n DESC LIMIT 1');
    if (!res.rows.length) {
      process.stderr.write('no checkpoint yet\n');
      return 1;
    }
    process.stdout.write(res.rows[0].jws + '\n');
    return 0;
  },
};
