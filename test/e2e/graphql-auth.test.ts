import { beforeAll, describe, expect, it } from 'vitest';
import { http } from '../support/hub.js';
import { gql } from './graphql-support.js';

/**
 * Scopes and the patient compartment through GraphQL: a `patient/` token reaches its own patient's data and no other
 * patient's, neither through a reference nor through a reverse reference nor through a search. It holds because
 * every GraphQL data access is a pipeline interaction carrying the token's principal (the authorize stage sets the
 * compartment restriction, the engine compiles it into the SQL).
 *
 * ENABLE AFTER AUTH MERGE: needs the SMART authorization server and its test helpers (branch `auth`:
 * test/e2e/auth-support.ts) and the GraphQL door authenticating bearer tokens (src/modules/graphql/request-principal.ts).
 */
describe('GraphQL with a patient/ token (enable after auth merge)', () => {
  let a: string;
  let b: string;
  let org: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    const auth: any = await import('./auth-support.js');
    org = (await http('POST', 'Organization', { resourceType: 'Organization', name: 'GraphQL scope test' })).body.id;
    a = await auth.createPatient('GqlScopeA', { managingOrganization: { reference: `Organization/${org}` } });
    b = await auth.createPatient('GqlScopeB', { managingOrganization: { reference: `Organization/${org}` } });
    // A's Observation names B as performer: a reference out of A's compartment
    await http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'a' }, subject: { reference: `Patient/${a}` }, performer: [{ reference: `Patient/${b}` }] });
    await http('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'b' }, subject: { reference: `Patient/${b}` } });
    const app = await auth.createApp('openid launch/patient patient/*.rs');
    const user = await auth.createUser(undefined);
    const t = await auth.login({ clientId: app.clientId, scope: 'launch/patient patient/*.rs', user, pick: a });
    headers = auth.bearer(t.access_token);
  });

  it('reads its own patient and that patient\'s Observations (reverse reference)', async () => {
    const res = await gql('$graphql', `{ Patient(id: "${a}") { id ObservationList(_reference: patient) { code { text } } } }`, { headers });
    expect(res.body.errors, res.text).toBeUndefined();
    expect(res.body.data.Patient).toEqual({ id: a, ObservationList: [{ code: { text: 'a' } }] });
  });

  it('cannot read another patient, directly or at instance level', async () => {
    const res = await gql('$graphql', `{ Patient(id: "${b}") { id } }`, { headers });
    expect(res.body.data.Patient).toBeNull();
    expect([403, 404]).toContain(res.body.errors![0].extensions.status);
    const instance = await gql(`Patient/${b}/$graphql`, `{ id }`, { headers });
    expect(instance.body.data).toBeNull();
  });

  it('cannot follow a reference to another patient (unresolvable: null when optional, an error otherwise)', async () => {
    const optional = await gql('$graphql', `{ ObservationList(subject: "Patient/${a}") { performer { reference resource(optional: true) { id } } } }`, { headers });
    expect(optional.body.errors, optional.text).toBeUndefined();
    expect(optional.body.data.ObservationList).toEqual([{ performer: [{ reference: `Patient/${b}`, resource: null }] }]);
    const strict = await gql('$graphql', `{ ObservationList(subject: "Patient/${a}") { performer { resource { id } } } }`, { headers });
    expect(strict.body.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(strict.body.data)).not.toContain(b);
  });

  it('cannot reach another patient through a reverse reference or a search', async () => {
    const reverse = await gql('$graphql', `{ Organization(id: "${org}") { PatientList(_reference: organization) { id } } }`, { headers });
    expect(reverse.body.errors, reverse.text).toBeUndefined();
    expect(reverse.body.data.Organization.PatientList).toEqual([{ id: a }]);
    const search = await gql('$graphql', `{ ObservationList(subject: "Patient/${b}") { id } PatientList(family: "GqlScopeB") { id } }`, { headers });
    expect(search.body.data).toEqual({ ObservationList: [], PatientList: [] });
  });

  it('cannot write with a read-only token', async () => {
    const res = await gql('$graphql', `mutation { PatientUpdate(id: "${a}", res: { gender: "male" }) { id } }`, { headers });
    expect(res.body.errors![0].extensions.status).toBe(403);
    expect((await http('GET', `Patient/${a}`)).body.gender).toBeUndefined();
  });
});
