import fs from 'node:fs';
import path from 'node:path';
import { loadHubConfig } from '../modules/config/hub-config.js';
import { createHubLogger } from '../modules/logging/logger.js';
import { openDatabase } from '../modules/database/database.module.js';
import { Db } from '../modules/database/db.js';

export interface CliDatabase extends Db {
  close(): Promise<void>;
}

/**
 * The database a CLI command works on: DATABASE_URL; else the embedded PostgreSQL of a hub running on DATA_DIR
 * (reached through the port in its postmaster.pid, and left running); else the embedded server under DATA_DIR,
 * started for the command and stopped after it. Migrations are applied in every case.
 */
export async function openCliDatabase(): Promise<CliDatabase> {
  const config = loadHubConfig();
  const log = createHubLogger(process.env.LOG_LEVEL ?? 'warn');
  if (!config.databaseUrl) {
    const running = runningEmbeddedPort(config.dataDir);
    if (running) config.databaseUrl = `postgres://hub:hub@localhost:${running}/hub`;
  }
  const lc = await openDatabase({ ...config, dbPoolSize: 4 }, log);
  const db = new Db(lc.pool) as CliDatabase;
  db.close = async () => {
    await lc.close().catch(() => undefined);
    await lc.embedded?.stop();
  };
  return db;
}

function runningEmbeddedPort(dataDir: string): number | undefined {
  try {
    const lines = fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    process.kill(pid, 0);
    const port = Number(lines[3]);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
