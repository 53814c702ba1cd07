import type { CliCommand } from '../cli-command.js';
import { auditCheckpoint, auditVerify } from './audit.js';
import { AUTH_COMMANDS } from './auth.js';
import { mpiCommands } from './mpi.js';
import { consentCommands } from './consent.js';
import { BULK_COMMANDS } from './bulk.js';

/** Every command of the hub CLI; each area adds its own module's commands here. */
export const COMMANDS: CliCommand[] = [...AUTH_COMMANDS, auditVerify, auditCheckpoint, ...mpiCommands, ...consentCommands, ...BULK_COMMANDS];
