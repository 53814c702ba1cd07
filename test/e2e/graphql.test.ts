import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirBase, http } from '../support/hub.js';
import { authHeaders, gql } from './graphql-support.js';

/** FHIR GraphQL beyond the conformance cases: mutations, search arguments, limits, batching, the endpoints. */

/** Asks the hub to count the SQL statements of a request (extensions.sqlStatements; outside production only). */
const COUNT = { headers: { 'x-hub-count-sql': '1' } };

const family = () => `Gql${randomUUID().slice(0, 8)}`;

async function create(resource: any): Promise<any> {
  const res = await http('POST', resource.resourceType, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType}: ${res.status} ${res.text.slice(0, 300)}`);
  return res.body;
}

describe('GraphQL mutations (validated and written like REST)', () => {
  it('PatientCreate, PatientUpdate and PatientDelete write through the pipeline; REST sees each change', async () => {
    const f = family();
    const created = await gql('$graphql', `mutation { PatientCreate(res: { gender: "female", name: [{ family: "${f}", given: ["Ann"] }], birthDate: "1980-02-03" }) { id resourceType gender birthDate name { family given } meta { versionId } } }`);
    expect(created.body.errors, created.text).toBeUndefined();
    const p = created.body.data.PatientCreate;
    expect(p).toMatchObject({ resourceType: 'Patient', gender: 'female', birthDate: '1980-02-03', name: [{ family: f, given: ['Ann'] }], meta: { versionId: '1' } });
    const read = await http('GET', `Patient/${p.id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual([{ family: f, given: ['Ann'] }]);

    const updated = await gql('$graphql', `mutation ($id: SearchValue!, $res: PatientInput!) { PatientUpdate(id: $id, res: $res) { id gender meta { versionId } } }`, {
      variables: { id: p.id, res: { gender: 'other', name: [{ family: f }] } },
    });
    expect(updated.body.errors, updated.text).toBeUndefined();
    expect(updated.body.data.PatientUpdate).toEqual({ id: p.id, gender: 'other', meta: { versionId: '2' } });
    expect((await http('GET', `Patient/${p.id}`)).body.gender).toBe('other');

    const deleted = await gql('$graphql', `mutation { PatientDelete(id: "${p.id}") { issue { severity } } }`);
    expect(deleted.body.errors, deleted.text).toBeUndefined();
    expect((await http('GET', `Patient/${p.id}`)).status).toBe(410);
  });

  it('an invalid resource is a GraphQL error carrying the OperationOutcome REST gives for the same body, and nothing is written', async () => {
    const f = family();
    const body = { gender: 'bogus', name: [{ family: f }], birthDate: '1970-13-01' };
    const res = await gql('$graphql', `mutation ($res: PatientInput!) { PatientCreate(res: $res) { id } }`, { variables: { res: body } });
    const rest = await http('POST', 'Patient', { resourceType: 'Patient', ...body });
    expect(rest.status).toBe(400);
    expect(res.body.data).toEqual({ PatientCreate: null });
    expect(res.body.errors).toHaveLength(1);
    const error = res.body.errors![0];
    expect(error.path).toEqual(['PatientCreate']);
    expect(error.extensions).toMatchObject({ code: 'FHIR_ERROR', status: 400 });
    expect(error.extensions.operationOutcome).toEqual(rest.body);
    for (const issue of rest.body.issue) expect(error.message).toContain(issue.diagnostics);
    expect((await http('GET', `Patient?family=${f}`)).body.total).toBe(0);
  });

  it('input that is not FHIR at all fails GraphQL validation (unknown field, wrong type) and writes nothing', async () => {
    const f = family();
    const unknown = await gql('$graphql', `mutation { PatientCreate(res: { name: [{ family: "${f}" }], colour: "blue" }) { id } }`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors![0].message).toMatch(/colour/);
    const wrongType = await gql('$graphql', `mutation { PatientCreate(res: { name: [{ family: "${f}" }], active: "yes" }) { id } }`);
    expect(wrongType.body.errors![0].message).toMatch(/Boolean/);
    expect((await http('GET', `Patient?family=${f}`)).body.total).toBe(0);
  });

  it('two updates in one mutation run one after the other', async () => {
    const p = await create({ resourceType: 'Patient', name: [{ family: family() }] });
    const res = await gql('$graphql', `mutation { a: PatientUpdate(id: "${p.id}", res: { gender: "male" }) { meta { versionId } } b: PatientUpdate(id: "${p.id}", res: { gender: "female" }) { meta { versionId } } }`);
    expect(res.body.errors, res.text).toBeUndefined();
    // mutations run one after the other (GraphQL): versions 2 then 3
    expect(res.body.data).toEqual({ a: { meta: { versionId: '2' } }, b: { meta: { versionId: '3' } } });
  });

  it('mutations are refused over GET and on a resource instance', async () => {
    const get = await gql('$graphql', `mutation { PatientDelete(id: "x") { id } }`, { method: 'GET' });
    expect(get.status).toBe(405);
    const p = await create({ resourceType: 'Patient', name: [{ family: family() }] });
    const instance = await gql(`Patient/${p.id}/$graphql`, `mutation { PatientDelete(id: "${p.id}") { id } }`);
    expect(instance.status).toBe(400);
    expect(instance.body.issue?.[0]?.diagnostics ?? instance.text).toMatch(/Only queries/);
    expect((await http('GET', `Patient/${p.id}`)).status).toBe(200);
  });
});

describe('GraphQL queries', () => {
  let patient: any;
  let other: any;
  const f = family();
  beforeAll(async () => {
    patient = await create({ resourceType: 'Patient', active: true, name: [{ use: 'official', family: f, given: ['Zed'] }, { use: 'nickname', given: ['Z'] }], birthDate: '1990-01-01' });
    other = await create({ resourceType: 'Patient', active: false, name: [{ family: f, given: ['Other'] }] });
    for (let i = 0; i < 3; i++) {
      await create({ resourceType: 'Observation', status: 'final', code: { text: `obs ${i}` }, subject: { reference: `Patient/${patient.id}` }, effectiveDateTime: `2024-01-0${i + 1}` });
    }
  });

  it('search arguments are the search parameters of the type (- becomes _), with _count, _sort and AND lists', async () => {
    const res = await gql('$graphql', `{ PatientList(family: "${f}", _sort: "given") { id active } inactive: PatientList(family: "${f}", active: false) { id } both: PatientList(family: ["${f}", "nobody"]) { id } }`);
    expect(res.body.errors, res.text).toBeUndefined();
    expect(res.body.data.PatientList.map((p: any) => p.id)).toEqual([other.id, patient.id]);
    expect(res.body.data.inactive).toEqual([{ id: other.id }]);
    expect(res.body.data.both).toEqual([]);
    const obs = await gql('$graphql', `{ ObservationList(subject: "Patient/${patient.id}", _sort: "-date", _count: 2) { code { text } } }`);
    expect(obs.body.data.ObservationList).toEqual([{ code: { text: 'obs 2' } }, { code: { text: 'obs 1' } }]);
    const dashed = await gql('$graphql', `{ PatientList(address_city: "nowhere-${f}") { id } }`);
    expect(dashed.body.data.PatientList).toEqual([]);
  });

  it('an unknown search argument is a validation error, a bad search value a FHIR error', async () => {
    const unknown = await gql('$graphql', `{ PatientList(colour: "blue") { id } }`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors![0].message).toMatch(/colour/);
    // searches are strict: a filter that cannot be applied is an error, not a wider answer
    const bad = await gql('$graphql', `{ PatientList(birthdate: "not-a-date") { id } }`);
    expect(bad.body.data).toEqual({ PatientList: null });
    expect(bad.body.errors![0].extensions).toMatchObject({ code: 'FHIR_ERROR', status: 400 });
    expect(bad.body.errors![0].message).toMatch(/not-a-date/);
  });

  it('list fields filter by a child value, by fhirpath, and page with _offset/_count', async () => {
    const res = await gql(`Patient/${patient.id}/$graphql`, `{ official: name(use: official) { given } nick: name(fhirpath: "use = 'nickname'") { given } second: name(_offset: 1, _count: 1) { use } }`);
    expect(res.body.errors, res.text).toBeUndefined();
    expect(res.body.data).toEqual({ official: [{ given: ['Zed'] }], nick: [{ given: ['Z'] }], second: [{ use: 'nickname' }] });
  });

  it('a reading error is a GraphQL error with the FHIR status and OperationOutcome', async () => {
    const res = await gql('$graphql', `{ Patient(id: "no-such-${f}") { id } }`);
    expect(res.body.data).toEqual({ Patient: null });
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'FHIR_ERROR', status: 404, operationOutcome: { resourceType: 'OperationOutcome' } });
    const instance = await gql(`Patient/no-such-${f}/$graphql`, `{ id }`);
    expect(instance.body.data).toBeNull();
    expect(instance.body.errors![0].extensions.status).toBe(404);
    expect(instance.body.errors![0].path).toEqual([]);
  });

  it('/graphql is the system endpoint too; GET ?query= and application/graphql bodies work', async () => {
    const url = fhirBase().replace(/\/fhir$/, '/graphql');
    const post = await gql(url, `{ Patient(id: "${patient.id}") { birthDate } }`);
    expect(post.body.data).toEqual({ Patient: { birthDate: '1990-01-01' } });
    const get = await gql(url, `{ Patient(id: "${patient.id}") { birthDate } }`, { method: 'GET' });
    expect(get.body.data).toEqual(post.body.data);
    const raw = await fetch(`${fhirBase()}/$graphql`, { method: 'POST', headers: { 'content-type': 'application/graphql', ...authHeaders() }, body: `{ Patient(id: "${patient.id}") { birthDate } }` });
    expect(((await raw.json()) as any).data).toEqual(post.body.data);
  });

  it('introspection is on; the schema has every resource type with its reverse references and primitive extensions', async () => {
    const res = await gql('$graphql', `{ __schema { queryType { name } mutationType { name } types { name } } patient: __type(name: "Patient") { fields { name } } }`);
    expect(res.body.errors, res.text).toBeUndefined();
    const types = new Set(res.body.data.__schema.types.map((t: any) => t.name));
    for (const t of ['Patient', 'Observation', 'MolecularSequence', 'PatientContact', 'HumanName', 'Element', 'PatientConnection', 'PatientEdge', 'PatientInput']) expect(types.has(t), t).toBe(true);
    const fields = res.body.data.patient.fields.map((x: any) => x.name);
    expect(fields).toEqual(expect.arrayContaining(['resourceType', 'birthDate', '_birthDate', 'name', 'ObservationList', 'ConditionList', 'EncounterList']));
  });

  it('the GraphiQL / Apollo landing page is served outside production', async () => {
    const res = await fetch(fhirBase().replace(/\/fhir$/, '/graphql'), { headers: { accept: 'text/html', ...authHeaders() } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });
});

describe('GraphQL depth and cost limits', () => {
  it('a query nested deeper than the limit (15) is refused before anything is read', async () => {
    let inner = 'url';
    for (let i = 0; i < 16; i++) inner = `extension { ${inner} }`;
    const res = await gql('$graphql', `{ PatientList(_count: 1) { ${inner} } }`, COUNT);
    expect(res.status).toBe(400);
    expect(res.body.errors![0]).toMatchObject({ message: expect.stringMatching(/depth 1[78] is over the limit of 15/), extensions: { code: 'QUERY_TOO_DEEP' } });
    expect(res.body.extensions?.sqlStatements).toBe(0);
    // just under the limit is fine
    let ok = 'url';
    for (let i = 0; i < 12; i++) ok = `extension { ${ok} }`;
    expect((await gql('$graphql', `{ PatientList(_count: 1) { ${ok} } }`)).body.errors).toBeUndefined();
  });

  it('a query that could read more resources than the cost limit (5000) is refused; fragments count too', async () => {
    const res = await gql('$graphql', `{ PatientList(_count: 100) { ...obs } } fragment obs on Patient { ObservationList(_reference: patient, _count: 100) { id } }`, COUNT);
    expect(res.status).toBe(400);
    expect(res.body.errors![0]).toMatchObject({ message: expect.stringMatching(/cost 10100 .* over the limit of 5000/), extensions: { code: 'QUERY_TOO_COSTLY' } });
    expect(res.body.extensions?.sqlStatements).toBe(0);
    const variable = await gql('$graphql', `query ($n: Int) { PatientList(_count: $n) { ObservationList(_reference: patient, _count: $n) { id } } }`, { variables: { n: 1 } });
    // a _count given by a variable counts as the largest page (validation does not see variables)
    expect(variable.body.errors![0].extensions.code).toBe('QUERY_TOO_COSTLY');
    expect((await gql('$graphql', `{ PatientList(_count: 10) { ObservationList(_reference: patient, _count: 10) { id } } }`)).body.errors).toBeUndefined();
  });
});

/**
 * No N+1: the SQL statements a query sends (extensions.sqlStatements, counted per request outside production) do
 * not depend on how many resources it returns: references resolved in one step are one `_id=` search per type,
 * reverse references of many parents one search.
 */
describe('GraphQL batching (statements per query independent of the results)', () => {
  async function patientWithObservations(n: number, tag: string): Promise<{ patient: any; practitioners: any[] }> {
    const patient = await create({ resourceType: 'Patient', name: [{ family: tag }] });
    const practitioners = [];
    for (let i = 0; i < n; i++) practitioners.push(await create({ resourceType: 'Practitioner', name: [{ family: `${tag}-dr${i}` }] }));
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: practitioners.map((pr, i) => ({
        request: { method: 'POST', url: 'Observation' },
        resource: { resourceType: 'Observation', status: 'final', code: { text: `${tag} ${i}` }, subject: { reference: `Patient/${patient.id}` }, performer: [{ reference: `Practitioner/${pr.id}` }], effectiveDateTime: `2024-02-${String(i + 1).padStart(2, '0')}` },
      })),
    };
    expect((await http('POST', '', bundle)).status).toBe(200);
    return { patient, practitioners };
  }

  const query = (patientId: string) =>
    `{ PatientList(_id: "${patientId}") { id ObservationList(_reference: patient, _sort: "-date", _count: 50) { id performer { resource { ... on Practitioner { id name { family } } } } } } }`;

  it('a patient with its latest Observations and their performers: the same statements for 2 and for 25 results', async () => {
    const small = await patientWithObservations(2, family());
    const large = await patientWithObservations(25, family());
    // other clients' requests at the same time (reads batched with ours, audit group commits, checkpoints) are not ours
    const others = () => Promise.all(large.practitioners.map((p) => http('GET', `Practitioner/${p.id}`)));
    const [a] = await Promise.all([gql('$graphql', query(small.patient.id), COUNT), others()]);
    const [b] = await Promise.all([gql('$graphql', query(large.patient.id), COUNT), others()]);
    expect(a.body.errors, a.text).toBeUndefined();
    expect(b.body.errors, b.text).toBeUndefined();
    const obsB = b.body.data.PatientList[0].ObservationList;
    expect(obsB).toHaveLength(25);
    // every performer resolved, to the right practitioner, newest Observation first
    expect(obsB.map((o: any) => o.performer[0].resource.id)).toEqual([...large.practitioners].reverse().map((p) => p.id));
    expect(a.body.data.PatientList[0].ObservationList).toHaveLength(2);
    expect(a.body.extensions.sqlStatements).toBeGreaterThan(0);
    expect(b.body.extensions.sqlStatements).toBe(a.body.extensions.sqlStatements);
  });

  it('reverse references of many patients are one search: the same statements for 2 and for 6 patients, each with its own', async () => {
    const tag = family();
    const patients = [];
    for (let i = 0; i < 6; i++) patients.push((await patientWithObservations(i % 3, `${tag}-${i}`)).patient);
    const q = (ids: string[]) => `{ PatientList(_id: "${ids.join(',')}", _sort: "_id") { id ObservationList(_reference: patient) { subject { reference } performer { resource { ... on Practitioner { id } } } } } }`;
    const two = await gql('$graphql', q(patients.slice(0, 2).map((p) => p.id)), COUNT);
    const six = await gql('$graphql', q(patients.map((p) => p.id)), COUNT);
    expect(six.body.errors, six.text).toBeUndefined();
    for (const p of six.body.data.PatientList) {
      const i = patients.findIndex((x) => x.id === p.id);
      expect(p.ObservationList).toHaveLength(i % 3);
      for (const o of p.ObservationList) expect(o.subject.reference).toBe(`Patient/${p.id}`);
    }
    expect(six.body.extensions.sqlStatements).toBe(two.body.extensions.sqlStatements);
  });
});

describe('$graphql in the CapabilityStatement and in Bundles', () => {
  it('is listed at system and instance level, and refused inside a batch', async () => {
    const cs = (await http('GET', 'metadata')).body;
    expect(cs.rest[0].operation).toContainEqual({ name: 'graphql', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-graphql' });
    expect(cs.rest[0].resource.find((r: any) => r.type === 'Patient').operation).toContainEqual({ name: 'graphql', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-graphql' });
    const batch = await http('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: '$graphql?query={PatientList{id}}' } }] });
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toMatch(/^400/);
  });
});
