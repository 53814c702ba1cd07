import { BreakGlassSessions } from '../../consent/break-glass-sessions.js';
import { ConsentPolicyStore } from '../../consent/consent-policy.js';
import type { CliCommand } from '../cli-command.js';

/** Consent administration from the command line: the base policy and the break-the-glass review queue. */
export const consentCommands: CliCommand[] = [
  {
    name: 'consent policy',
    usage: 'consent policy [opt-in|opt-out] [--hide-denied|--show-denied]',
    summary: 'show or set the hub-wide consent base policy',
    async run(args, db) {
      const base = args.find((a) => a === 'opt-in' || a === 'opt-out') as 'opt-in' | 'opt-out' | undefined;
      const hideDenied = args.includes('--hide-denied') ? true : args.includes('--show-denied') ? false : undefined;
      const unknown = args.filter((a) => !['opt-in', 'opt-out', '--hide-denied', '--show-denied'].includes(a));
      if (unknown.length) throw new Error(`unknown argument(s): ${unknown.join(' ')}`);
      const store = new ConsentPolicyStore();
      const policy = base || hideDenied !== undefined ? await store.set(db, { base, hideDenied }) : await store.current(db);
      process.stdout.write(`base policy: ${policy.base}; denied reads answer ${policy.hideDenied ? '404' : '403'}\n`);
      return 0;
    },
  },
  {
    name: 'consent sessions',
    usage: 'consent sessions [--all]',
    summary: 'list break-the-glass sessions waiting for review (or all)',
    async run(args, db) {
      const list = await new BreakGlassSessions().list(db, { all: args.includes('--all') });
      for (const s of list) {
        process.stdout.write(
          `${s.id}  ${s.startedAt} → ${s.expiresAt}  user ${s.fhirUser ?? s.userId}  Patient/${s.patientId}  ${s.purpose}  "${s.reason}"` +
            `${s.reviewedAt ? `  reviewed ${s.reviewedAt} by ${s.reviewedBy}: "${s.reviewComment}"` : '  PENDING'}\n`,
        );
      }
      if (!list.length) process.stdout.write('no sessions\n');
      return 0;
    },
  },
  {
    name: 'consent review',
    usage: 'consent review <session-id> <comment...>',
    summary: 'mark a break-the-glass session reviewed',
    async run(args, db) {
      const [id, ...words] = args;
      if (!id || !words.length) throw new Error('usage: consent review <session-id> <comment...>');
      const s = await new BreakGlassSessions().review(db, id, `cli:${process.env.USER ?? 'operator'}`, words.join(' '));
      if (!s) {
        process.stderr.write(`no break-the-glass session ${id}\n`);
        return 1;
      }
      process.stdout.write(`reviewed ${s.id} (Patient/${s.patientId})\n`);
      return 0;
    },
  },
];
