import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { http } from '../support/hub.js';
import { bearer, createPatient, login, REDIRECT, token } from './auth-support.js';

/** `npm run hub -- client add / user add / launch add` against the running hub's database (dist/, built by pretest). */

const run = promisify(execFile);
const CLI = path.resolve('dist/cli/hub-cli.js');

async function hub(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, DATA_DIR: inject('dataDir'), LOG_LEVEL: 'warn' } });
  return stdout.trim().startsWith('{') || stdout.trim().startsWith('[') ? JSON.parse(stdout) : stdout;
}

describe('hub CLI: clients, users, launch contexts', () => {
  it('registers a public app and a user who then authorize over HTTP; launch add binds an EHR launch', { timeout: 60_000 }, async () => {
    const patient = await createPatient('Cli');
    const username = `cli-${Date.now()}`;
    const user = await hub('user', 'add', '--username', username, '--password', 'cli password 123', '--fhir-user', `Patient/${patient}`, '--name', 'CLI Person');
    expect(user.fhirUser).toBe(`Patient/${patient}`);
    const app = await hub('client', 'add', '--type', 'public', '--redirect-uri', REDIRECT, '--scope', 'launch launch/patient patient/*.rs', '--name', 'CLI app');
    expect(app.token_endpoint_auth_method).toBe('none');
    const t = await login({ clientId: app.client_id, scope: 'launch/patient patient/*.rs', user: { username, password: 'cli password 123' } });
    expect(t.patient).toBe(patient);
    expect((await http('GET', `Patient/${patient}`, undefined, bearer(t.access_token))).status).toBe(200);
    const { launch } = await hub('launch', 'add', '--patient', patient);
    const ehr = await login({ clientId: app.client_id, scope: 'launch patient/*.rs', user: { username, password: 'cli password 123' }, launch });
    expect(ehr.patient).toBe(patient);
    expect((await hub('user', 'list')).some((u: any) => u.username === username)).toBe(true);
  });

  it('registers a client with its organization and purposes of use, and a user with an organization; refuses bad ones', { timeout: 60_000 }, async () => {
    const c = await hub('client', 'add', '--type', 'confidential-symmetric', '--grant-type', 'client_credentials', '--scope', 'system/Patient.rs',
      '--organization', 'Organization/cli-org', '--purpose-of-use', 'TREAT,ETREAT', '--purpose-of-use', 'HPAYMT', '--default-purpose-of-use', 'TREAT');
    expect(c).toMatchObject({ hub_organization: 'Organization/cli-org', hub_purpose_of_use: ['TREAT', 'ETREAT', 'HPAYMT'], hub_default_purpose_of_use: ['TREAT'] });
    const t = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: c.client_id, secret: c.client_secret });
    const patient = await createPatient('CliPurpose');
    expect((await http('GET', `Patient/${patient}`, undefined, { ...bearer(t.body.access_token), 'x-purpose-of-use': 'ETREAT' })).status).toBe(200);
    expect((await http('GET', `Patient/${patient}`, undefined, { ...bearer(t.body.access_token), 'x-purpose-of-use': 'HRESCH' })).status).toBe(403);
    await expect(hub('client', 'add', '--type', 'confidential-symmetric', '--grant-type', 'client_credentials', '--scope', 'system/Patient.rs', '--purpose-of-use', 'BTG')).rejects.toThrow(/break-the-glass/);
    const user = await hub('user', 'add', '--username', `cli-org-${Date.now()}`, '--password', 'cli password 123', '--fhir-user', 'Practitioner/cli', '--organization', 'Organization/cli-org');
    expect(user.organization).toBe('Organization/cli-org');
  });

  it('registers a confidential backend client; client remove ends its tokens', { timeout: 60_000 }, async () => {
    const c = await hub('client', 'add', '--type', 'confidential-symmetric', '--grant-type', 'client_credentials', '--scope', 'system/Patient.rs');
    expect(c.client_secret).toBeTruthy();
    const t = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: c.client_id, secret: c.client_secret });
    expect(t.status).toBe(200);
    expect((await hub('client', 'list')).find((x: any) => x.client_id === c.client_id).client_secret).toBeUndefined();
    await hub('client', 'remove', c.client_id);
    // the hub's token cache forgets within its bound (10 s); the token row is gone at once
    const again = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { id: c.client_id, secret: c.client_secret });
    expect(again.status).toBe(401);
  });
});
