/**
 * The hub's command line: `npm run hub -- <command> [arguments]` (or `node dist/cli/hub-cli.js ...`).
 * Each area registers its commands in `commands/index.ts`; a command gets the parsed arguments and a database
 * (the running hub's embedded PostgreSQL, DATABASE_URL, or an embedded server started for the command).
 */
import { COMMANDS } from './commands/index.js';
import { openCliDatabase } from './cli-database.js';

function usage(): string {
  const lines = ['usage: npm run hub -- <command> [arguments]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.usage.padEnd(48)} ${c.summary}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  if (!argv.length || argv[0] === 'help' || argv[0] === '--help') {
    process.stdout.write(usage() + '\n');
    return argv.length ? 0 : 2;
  }
  // the longest registered name that prefixes the arguments ("client add" before "client")
  const matches = COMMANDS.filter((c) => {
    const words = c.name.split(' ');
    return words.every((w, i) => argv[i] === w);
  }).sort((a, b) => b.name.length - a.name.length);
  const command = matches[0];
  if (!command) {
    process.stderr.write(`unknown command: ${argv.join(' ')}\n\n${usage()}\n`);
    return 2;
  }
  const args = argv.slice(command.name.split(' ').length);
  const db = await openCliDatabase();
  try {
    return await command.run(args, db);
  } catch (e) {
    process.stderr.write(`${command.name}: ${(e as Error)?.message ?? e}\n`);
    return 1;
  } finally {
    await db.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  },
);
