import fs from 'node:fs';
import type { CliCommand } from '../cli-command.js';
import { ClientRegistry, clientMetadata, type ClientInput } from '../../modules/auth/client-registry.js';
import { checkContext, LaunchContexts } from '../../modules/auth/launch-contexts.js';
import { UserAccounts } from '../../modules/auth/user-accounts.js';

/** `--name value` options (repeatable ones collect into arrays) and positional arguments. */
function parseArgs(args: string[]): { opts: Map<string, string[]>; rest: string[] } {
  const opts = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      opts.set(name, [...(opts.get(name) ?? []), value]);
    } else rest.push(a);
  }
  return { opts, rest };
}

const one = (opts: Map<string, string[]>, name: string) => opts.get(name)?.at(-1);
const print = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

const clientAdd: CliCommand = {
  name: 'client add',
  usage:
    'client add --type T --scope "S" [--redirect-uri U]... [--id ID] [--name N] [--secret S] [--jwks-file F | --jwks-uri U] [--grant-type G]... ' +
    '[--organization Organization/ID] [--purpose-of-use CODE[,CODE]]... [--default-purpose-of-use CODE[,CODE]]',
  summary:
    'register an app (T: public, confidential-symmetric, confidential-asymmetric); prints its id (and generated secret). ' +
    'Purposes of use are v3 PurposeOfUse codes (TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PUBHLTH, PATRQT, ...): the ones it may declare, and its default',
  async run(args, db) {
    const { opts } = parseArgs(args);
    const jwksFile = one(opts, 'jwks-file');
    const input: ClientInput = {
      type: (one(opts, 'type') ?? 'public') as ClientInput['type'],
      scope: one(opts, 'scope') ?? '',
      clientId: one(opts, 'id'),
      name: one(opts, 'name'),
      redirectUris: opts.get('redirect-uri'),
      secret: one(opts, 'secret'),
      jwks: jwksFile ? JSON.parse(fs.readFileSync(jwksFile, 'utf8')) : undefined,
      jwksUri: one(opts, 'jwks-uri'),
      grantTypes: opts.get('grant-type'),
      organization: one(opts, 'organization'),
      purposeOfUse: opts.get('purpose-of-use'),
      defaultPurposeOfUse: opts.get('default-purpose-of-use'),
    };
    const reg = clientMetadata(input);
    const registry = new ClientRegistry(db);
    if (await registry.find(reg.clientId)) throw new Error(`client ${reg.clientId} already exists`);
    await registry.save(reg);
    print({ ...reg.metadata, client_id: reg.clientId, client_secret: reg.clientSecret });
    return 0;
  },
};

const clientList: CliCommand = {
  name: 'client list',
  usage: 'client list',
  summary: 'list registered apps (without secrets)',
  async run(_args, db) {
    print(await new ClientRegistry(db).list());
    return 0;
  },
};

const clientRemove: CliCommand = {
  name: 'client remove',
  usage: 'client remove <client_id>',
  summary: 'remove an app and every token it holds',
  async run(args, db) {
    if (!args[0]) throw new Error('which client?');
    const removed = await new ClientRegistry(db).remove(args[0]);
    process.stdout.write(removed ? `removed ${args[0]}\n` : `no client ${args[0]}\n`);
    return removed ? 0 : 1;
  },
};

const userAdd: CliCommand = {
  name: 'user add',
  usage: 'user add --username U (--password P | --password-env VAR) [--fhir-user Practitioner/1] [--name N] [--organization Organization/ID]',
  summary: 'add a person who signs in (password hashed with scrypt), linked to a Practitioner or Patient',
  async run(args, db) {
    const { opts } = parseArgs(args);
    const env = one(opts, 'password-env');
    const password = env ? process.env[env] : one(opts, 'password');
    if (!password) throw new Error('--password or --password-env is required');
    const user = await new UserAccounts(db).create({ username: one(opts, 'username') ?? '', password, fhirUser: one(opts, 'fhir-user'), name: one(opts, 'name'), organization: one(opts, 'organization') });
    print(user);
    return 0;
  },
};

const userList: CliCommand = {
  name: 'user list',
  usage: 'user list',
  summary: 'list user accounts',
  async run(_args, db) {
    print(await new UserAccounts(db).list());
    return 0;
  },
};

const userRemove: CliCommand = {
  name: 'user remove',
  usage: 'user remove <id or username>',
  summary: 'remove a user account',
  async run(args, db) {
    if (!args[0]) throw new Error('which user?');
    const removed = await new UserAccounts(db).remove(args[0]);
    process.stdout.write(removed ? `removed ${args[0]}\n` : `no user ${args[0]}\n`);
    return removed ? 0 : 1;
  },
};

const launchAdd: CliCommand = {
  name: 'launch add',
  usage: 'launch add --patient ID [--encounter ID]',
  summary: 'create an EHR launch context; prints the `launch` value to give the app',
  async run(args, db) {
    const { opts } = parseArgs(args);
    const launch = await new LaunchContexts(db).create(checkContext({ patient: one(opts, 'patient'), encounter: one(opts, 'encounter') }));
    print({ launch });
    return 0;
  },
};

/** Authorization: apps (clients), users and EHR launch contexts (src/modules/auth). */
export const AUTH_COMMANDS: CliCommand[] = [clientAdd, clientList, clientRemove, userAdd, userList, userRemove, launchAdd];
