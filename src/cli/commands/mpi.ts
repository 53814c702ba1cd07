import type { CliCommand } from '../cli-command.js';
import { estimateParameters } from '../../mpi/em-estimator.js';
import { loadRules } from '../../mpi/matching-rules.js';

const flag = (args: string[], name: string) => args.includes(`--${name}`);
const option = (args: string[], name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

/** `mpi estimate`: m/u from the stored records (EM), saved for the hub (the rules file's values are the defaults). */
const estimate: CliCommand = {
  name: 'mpi estimate',
  usage: 'mpi estimate [--sample N] [--dry-run]',
  summary: 'estimate the MPI m/u parameters from the stored Patients (EM) and save them',
  async run(args, db) {
    const rules = loadRules();
    const sample = option(args, 'sample', 50_000);
    const res = await db.query(`SELECT features FROM mpi_record ORDER BY md5(patient_id) LIMIT $1`, [sample]);
    const records = res.rows.map((r: any) => r.features);
    if (records.length < 10) {
      process.stderr.write(`only ${records.length} source Patients are indexed; nothing estimated\n`);
      return 1;
    }
    const est = estimateParameters(rules, records, { randomPairs: 200_000, pairsPerKey: 50, iterations: 25, seed: 42 });
    const lines = [`records ${records.length}, random pairs ${est.randomPairs}, blocked pairs ${est.blockedPairs}, estimated match share λ ${est.lambda.toFixed(4)}`, ''];
    lines.push(`${'comparison/level'.padEnd(28)} ${'m (file)'.padStart(9)} ${'m'.padStart(9)} ${'u (file)'.padStart(9)} ${'u'.padStart(9)} ${'weight'.padStart(7)}`);
    for (const c of rules.comparisons) {
      for (const l of c.levels) {
        const key = `${c.name}/${l.label}`;
        const p = est.parameters[key];
        lines.push(`${key.padEnd(28)} ${l.m.toFixed(5).padStart(9)} ${p.m.toFixed(5).padStart(9)} ${l.u.toFixed(5).padStart(9)} ${p.u.toFixed(5).padStart(9)} ${Math.log2(p.m / p.u).toFixed(2).padStart(7)}`);
      }
    }
    process.stdout.write(lines.join('\n') + '\n');
    if (flag(args, 'dry-run')) return 0;
    const keys = Object.keys(est.parameters);
    await db.query(
      `INSERT INTO mpi_parameter (key, m, u) SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[])
       ON CONFLICT (key) DO UPDATE SET m = EXCLUDED.m, u = EXCLUDED.u, estimated = now()`,
      [keys, keys.map((k) => est.parameters[k].m), keys.map((k) => est.parameters[k].u)],
    );
    process.stdout.write(`\nsaved ${keys.length} parameters; a hub uses them from its next relink (npm run hub -- mpi relink) or restart\n`);
    return 0;
  },
};

/** `mpi reset-parameters`: back to the rules file's m/u. */
const reset: CliCommand = {
  name: 'mpi reset-parameters',
  usage: 'mpi reset-parameters',
  summary: 'forget estimated MPI m/u parameters (the rules file applies again)',
  async run(_args, db) {
    const res = await db.query(`DELETE FROM mpi_parameter`);
    process.stdout.write(`removed ${res.rowCount} saved parameters\n`);
    return 0;
  },
};

/** `mpi relink`: queues the relink-all job, which a running hub process carries out. */
const relink: CliCommand = {
  name: 'mpi relink',
  usage: 'mpi relink [--wait]',
  summary: 'queue a relink of every Patient (run by the hub); --wait follows it to the end',
  async run(args, db) {
    const res = await db.query(
      `INSERT INTO mpi_relink_job (total) SELECT count(*) FROM resource r WHERE resource_type = 'Patient' AND NOT deleted
         AND NOT EXISTS (SELECT 1 FROM mpi_golden g WHERE g.golden_id = r.id) RETURNING id::text, total`,
    );
    const { id, total } = res.rows[0];
    process.stdout.write(`relink job ${id} queued (${total} Patients); a running hub carries it out\n`);
    if (!flag(args, 'wait')) return 0;
    for (;;) {
      const s = (await db.query(`SELECT status, processed, error FROM mpi_relink_job WHERE id = $1`, [id])).rows[0];
      process.stdout.write(`  ${s.status} ${s.processed}/${total}\n`);
      if (s.status === 'done') return 0;
      if (s.status === 'failed') {
        process.stderr.write(`relink failed: ${s.error}\n`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  },
};

export const mpiCommands: CliCommand[] = [estimate, reset, relink];
