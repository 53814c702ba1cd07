import type { Db } from '../modules/database/db.js';

/** One command of `npm run hub -- ...`; `name` may have several words ("client add"). */
export interface CliCommand {
  name: string;
  usage: string;
  summary: string;
  /** Returns the process exit code (0 = success). Output goes to stdout; errors may be thrown. */
  run(args: string[], db: Db): Promise<number>;
}
