import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirBase, http } from '../support/hub.js';
import { admin, createPatient, createUser } from './auth-support.js';

/**
 * A real SMART app: the `fhirclient` library (its browser build) on a tiny static page, in headless Chromium (Debian's
 * chromium, installed by scripts/ensure-chromium.sh from `npm test`'s pretest), completes a standalone launch — a
 * practitioner signs in, finds and picks the patient, approves — and reads that patient, all in the browser.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FHIR_CLIENT_JS = path.resolve('node_modules/fhirclient/build/fhir-client.min.js');

let server: Server;
let appOrigin: string;
let context: BrowserContext;
let userDataDir: string;
let clientId: string;
let patientId: string;
const family = `Browserpatient${Date.now()}`;
const user = { username: '', password: 'browser password 1' };

function page(body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>SMART test app</title><script src="/fhir-client.js"></script></head><body>${body}</body></html>`;
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (npm test does)`);
  patientId = await createPatient(family);
  const prac = await http('POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Browser' }] });
  const u = await createUser(`Practitioner/${prac.body.id}`, user.password);
  user.username = u.username;
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/fhir-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(fs.readFileSync(FHIR_CLIENT_JS));
    }
    const html =
      url.pathname === '/launch.html'
        ? page(`<script>
            FHIR.oauth2.authorize({ iss: ${JSON.stringify(fhirBase())}, clientId: ${JSON.stringify(clientId)},
              scope: 'launch/patient openid fhirUser patient/*.rs', redirectUri: '/app.html', pkceMode: 'required' });
          </script>`)
        : url.pathname === '/app.html'
          ? page(`<pre id="out"></pre><script>
              FHIR.oauth2.ready()
                .then((client) => client.patient.read().then((p) => ({ p, patient: client.patient.id, scope: client.state.tokenResponse.scope })))
                .then((r) => { document.getElementById('out').textContent = JSON.stringify(r); document.title = 'done'; })
                .catch((e) => { document.getElementById('out').textContent = String(e && e.stack || e); document.title = 'failed'; });
            </script>`)
          : undefined;
    if (!html) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  appOrigin = `http://127.0.0.1:${(server.address() as any).port}`;
  const reg = await admin('POST', 'clients', { type: 'public', name: 'Browser SMART app', redirectUris: [`${appOrigin}/app.html`], scope: 'openid fhirUser launch/patient patient/*.rs' });
  clientId = reg.body.client_id;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

describe('fhirclient in Chromium', () => {
  it('completes a standalone launch (sign in, pick the patient, approve) and reads the patient', { timeout: 120_000 }, async () => {
    const tab = await context.newPage();
    await tab.goto(`${appOrigin}/launch.html`);
    // the hub's sign-in page
    await tab.waitForSelector('input[name="password"]', { timeout: 30_000 });
    await tab.fill('input[name="username"]', user.username);
    await tab.fill('input[name="password"]', user.password);
    await tab.click('#sign-in');
    // the approval page with the patient picker: find the patient by name, pick, approve
    await tab.waitForSelector('#approve-button', { timeout: 30_000 });
    expect(await tab.textContent('body')).toContain('patient/*.rs');
    await tab.fill('input[name="name"]', family);
    await tab.click('button:has-text("Find")');
    await tab.waitForSelector(`input[name="patient"][value="${patientId}"]`, { timeout: 30_000 });
    await tab.check(`input[name="patient"][value="${patientId}"]`);
    await tab.click('#approve-button');
    // back in the app: fhirclient exchanged the code (PKCE) and read Patient/<id> with the token
    await tab.waitForFunction(() => document.title === 'done' || document.title === 'failed', undefined, { timeout: 60_000 }).catch(async (e) => {
      throw new Error(`the app did not finish: ${tab.url()} ${(await tab.content()).slice(0, 500)}`, { cause: e });
    });
    const out = JSON.parse((await tab.textContent('#out'))!.startsWith('{') ? (await tab.textContent('#out'))! : JSON.stringify({ error: await tab.textContent('#out') }));
    expect(out.error).toBeUndefined();
    expect(out.patient).toBe(patientId);
    expect(out.p.resourceType).toBe('Patient');
    expect(out.p.name[0].family).toBe(family);
    expect(out.scope.split(' ')).toEqual(expect.arrayContaining(['launch/patient', 'openid', 'fhirUser', 'patient/*.rs']));
  });
});
