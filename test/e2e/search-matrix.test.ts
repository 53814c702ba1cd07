import { beforeAll, describe, expect, it } from 'vitest';
import { codings, fold, loadSynthea, ref, searchAll, sorted, span, type Loaded } from './search-support.js';

/**
 * Parameter types × prefixes × modifiers over Synthea data. Every expectation is computed here from the loaded JSON
 * (never from the search code), and every query is restricted to this file's data with `_tag`.
 */
let data: Loaded;
const q = (s: string) => `${s}${s.includes('?') ? '&' : '?'}_tag=${encodeURIComponent(data.tag)}`;
const expectIds = async (query: string, expected: any[]) => {
  const { ids } = await searchAll(q(query));
  expect(sorted(ids), query).toEqual(sorted(expected.map(ref)));
  expect(new Set(ids).size, `${query}: duplicates`).toBe(ids.length);
};

const T = (iso: string) => Date.parse(iso);

beforeAll(async () => {
  data = await loadSynthea(4, 0, `matrix-${Date.now()}`);
}, 300_000);

describe('token', () => {
  const hasCode = (o: any, system: string | undefined, code: string) => codings(o.code).some((c) => c.code === code && (system === undefined || c.system === system));
  it('code, system|code, OR, :not, |code', async () => {
    const obs = data.byType('Observation');
    await expectIds('Observation?code=8302-2', obs.filter((o) => hasCode(o, undefined, '8302-2')));
    await expectIds('Observation?code=http://loinc.org|8302-2,http://loinc.org|29463-7', obs.filter((o) => hasCode(o, 'http://loinc.org', '8302-2') || hasCode(o, 'http://loinc.org', '29463-7')));
    await expectIds('Observation?code=http://loinc.org|', obs.filter((o) => codings(o.code).some((c) => c.system === 'http://loinc.org')));
    await expectIds('Observation?code:not=8302-2', obs.filter((o) => !hasCode(o, undefined, '8302-2')));
    await expectIds('Observation?code=|8302-2', []);
    await expectIds('Observation?status=final', obs.filter((o) => o.status === 'final'));
  });
  it(':text on display and text', async () => {
    const obs = data.byType('Observation');
    const words = (s: string) => fold(s).split(' ');
    await expectIds('Observation?code:text=body', obs.filter((o) => [o.code.text, ...codings(o.code).map((c) => c.display)].some((t) => t && words(t).some((w) => w.startsWith('body')))));
  });
  it('identifier, :of-type, telecom, gender', async () => {
    const p = data.byType('Patient');
    const id = p[0].identifier[1];
    await expectIds(`Patient?identifier=${encodeURIComponent(`${id.system}|${id.value}`)}`, [p[0]]);
    await expectIds(`Patient?identifier:of-type=${encodeURIComponent(`http://terminology.hl7.org/CodeSystem/v2-0203|MR|${id.value}`)}`, [p[0]]);
    await expectIds(`Patient?telecom=${encodeURIComponent(p[1].telecom[0].value)}`, p.filter((x) => x.telecom?.some((t: any) => t.value === p[1].telecom[0].value)));
    await expectIds('Patient?gender=male', p.filter((x) => x.gender === 'male'));
  });
  it(':in and :below with R4 value sets and code systems', async () => {
    const enc = data.byType('Encounter');
    await expectIds(`Encounter?status:in=${encodeURIComponent('http://hl7.org/fhir/ValueSet/encounter-status')}`, enc.filter((e) => e.status));
    await expectIds(`Encounter?class:below=${encodeURIComponent('http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB')}`, enc.filter((e) => e.class?.code === 'AMB'));
  });
  it(':missing', async () => {
    const obs = data.byType('Observation');
    await expectIds('Observation?value-quantity:missing=true', obs.filter((o) => !o.valueQuantity && !o.valueSampledData));
    await expectIds('Observation?value-quantity:missing=false', obs.filter((o) => o.valueQuantity || o.valueSampledData));
  });
});

describe('string', () => {
  it('starts-with (case and accent folded), :exact, :contains, address parts', async () => {
    const p = data.byType('Patient');
    const fam: string = p[0].name[0].family;
    const parts = (x: any) => x.name.flatMap((n: any) => [n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? []), n.text].filter(Boolean));
    await expectIds(`Patient?name=${encodeURIComponent(fam.slice(0, 3).toUpperCase())}`, p.filter((x) => parts(x).some((s: string) => fold(s).startsWith(fold(fam.slice(0, 3))))));
    await expectIds(`Patient?name:exact=${encodeURIComponent(fam)}`, p.filter((x) => parts(x).includes(fam)));
    await expectIds(`Patient?name:exact=${encodeURIComponent(fam.toLowerCase())}`, p.filter((x) => parts(x).includes(fam.toLowerCase())));
    const mid = fam.slice(1, 4);
    await expectIds(`Patient?name:contains=${encodeURIComponent(mid)}`, p.filter((x) => parts(x).some((s: string) => fold(s).includes(fold(mid)))));
    const city = p[2].address[0].city;
    await expectIds(`Patient?address-city=${encodeURIComponent(city)}`, p.filter((x) => x.address?.some((a: any) => fold(a.city).startsWith(fold(city)))));
    await expectIds(`Patient?address=${encodeURIComponent(city)}`, p.filter((x) => x.address?.some((a: any) => [...(a.line ?? []), a.city, a.state, a.postalCode, a.country].some((s) => s && fold(s).startsWith(fold(city))))));
  });
});

describe('date', () => {
  const obs = () => data.byType('Observation');
  const eff = (o: any) => span(o.effectiveDateTime ?? o.effectivePeriod)!;
  const cases: [string, (s: [number, number]) => boolean][] = [
    ['2015', ([lo, hi]) => lo >= T('2015-01-01T00:00:00Z') && hi <= T('2015-12-31T23:59:59.999Z')],
    ['eq2015-06', ([lo, hi]) => lo >= T('2015-06-01T00:00:00Z') && hi <= T('2015-06-30T23:59:59.999Z')],
    ['ne2015', ([lo, hi]) => !(lo >= T('2015-01-01T00:00:00Z') && hi <= T('2015-12-31T23:59:59.999Z'))],
    ['gt2015-06-01', ([, hi]) => hi > T('2015-06-01T23:59:59.999Z')],
    ['ge2015-06-01', ([, hi]) => hi >= T('2015-06-01T00:00:00Z')],
    ['lt2012-01-01T00:00:00Z', ([lo]) => lo < T('2012-01-01T00:00:00Z')],
    ['le2012', ([lo]) => lo <= T('2012-12-31T23:59:59.999Z')],
    ['sa2016', ([lo]) => lo > T('2016-12-31T23:59:59.999Z')],
    ['eb2010-03', ([, hi]) => hi < T('2010-03-01T00:00:00Z')],
    ['ge2014-01-01T10:00:00+02:00', ([, hi]) => hi >= T('2014-01-01T08:00:00Z')],
  ];
  for (const [v, pred] of cases) {
    it(`Observation?date=${v}`, async () => {
      await expectIds(`Observation?date=${encodeURIComponent(v)}`, obs().filter((o) => pred(eff(o))));
    });
  }
  it('AND of two dates, and Period-valued Encounter.date', async () => {
    await expectIds('Observation?date=ge2014&date=lt2016', obs().filter((o) => eff(o)[1] >= T('2014-01-01T00:00:00Z') && eff(o)[0] < T('2016-01-01T00:00:00Z')));
    const enc = data.byType('Encounter');
    await expectIds('Encounter?date=ge2016-01-01', enc.filter((e) => span(e.period)![1] >= T('2016-01-01T00:00:00Z')));
    await expectIds('Patient?birthdate=le1960', data.byType('Patient').filter((p) => span(p.birthDate)![0] <= T('1960-12-31T23:59:59.999Z')));
  });
});

describe('quantity and number', () => {
  const obs = () => data.byType('Observation').filter((o) => o.valueQuantity);
  const val = (o: any) => o.valueQuantity.value;
  it('prefixes', async () => {
    await expectIds('Observation?value-quantity=gt100', obs().filter((o) => val(o) > 100));
    await expectIds('Observation?value-quantity=le5', obs().filter((o) => val(o) <= 5));
    // mass concentrations in g/L: every commensurable unit is compared (UCUM canonical form)
    const gPerL: Record<string, number> = { 'mg/dL': 0.01, 'g/dL': 10, 'ng/mL': 1e-6, 'g/L': 1, 'mg/L': 1e-3 };
    await expectIds('Observation?value-quantity=lt5|http://unitsofmeasure.org|mg/dL', obs().filter((o) => gPerL[o.valueQuantity.code] !== undefined && val(o) * gPerL[o.valueQuantity.code] < 0.05));
    const v = obs()[0].valueQuantity;
    // equality honours the precision of the search value: 1 decimal → ± 0.05
    const rounded = Math.round(v.value * 10) / 10;
    await expectIds(`Observation?value-quantity=${rounded}`, obs().filter((o) => val(o) >= rounded - 0.05 && val(o) < rounded + 0.05));
  });
  it('UCUM canonical: metres find centimetres', async () => {
    await expectIds('Observation?value-quantity=gt1.5|http://unitsofmeasure.org|m', obs().filter((o) => o.valueQuantity.code === 'cm' && val(o) > 150 || o.valueQuantity.code === 'm' && val(o) > 1.5 || o.valueQuantity.code === 'mm' && val(o) > 1500));
    await expectIds('Observation?value-quantity=gt60000|http://unitsofmeasure.org|g', obs().filter((o) => (o.valueQuantity.code === 'kg' && val(o) > 60) || (o.valueQuantity.code === 'g' && val(o) > 60000)));
  });
});

describe('reference and composite', () => {
  it('reference forms', async () => {
    const p = data.byType('Patient')[1];
    const mine = (t: string) => data.byType(t).filter((x) => x.subject?.reference === ref(p) || x.patient?.reference === ref(p));
    await expectIds(`Observation?subject=${ref(p)}`, mine('Observation'));
    await expectIds(`Observation?subject:Patient=${p.id}`, mine('Observation'));
    await expectIds(`Observation?patient=${p.id}`, mine('Observation'));
    await expectIds(`Encounter?subject=${encodeURIComponent(`http://elsewhere.example/fhir/${ref(p)}`)}`, []);
    await expectIds(`Immunization?patient=${ref(p)}`, mine('Immunization'));
  });
  it('composite code-value-quantity and component-code-value-quantity', async () => {
    const obs = data.byType('Observation');
    await expectIds('Observation?code-value-quantity=http://loinc.org|8302-2$gt170', obs.filter((o) => codings(o.code).some((c) => c.code === '8302-2') && o.valueQuantity?.value > 170));
    await expectIds(
      'Observation?component-code-value-quantity=http://loinc.org|8480-6$ge130',
      obs.filter((o) => (o.component ?? []).some((c: any) => codings(c.code).some((x) => x.code === '8480-6') && c.valueQuantity?.value >= 130)),
    );
  });
});

// A search held to one patient (`patient=`, `subject=Patient/…`, `Patient/x/Observation`) is compiled as that
// patient's reference rows with the other filters probed per row (pg-search-engine.ts patientAnchor): every filter
// kind must keep its meaning there, including the ones that stay on the resource row (_lastUpdated, _id).
describe('patient-anchored searches', () => {
  const pick = () => data.byType('Patient')[2];
  const obsOf = (p: any) => data.byType('Observation').filter((o) => o.subject?.reference === ref(p));
  const has = (o: any, code: string) => codings(o.code).some((c) => c.code === code);
  const eff = (o: any) => span(o.effectiveDateTime ?? o.effectivePeriod)!;
  it('token, date, quantity, :not and :missing probed on the patient rows', async () => {
    const p = pick();
    const mine = obsOf(p);
    const code = codings(mine[0].code)[0].code;
    expect(mine.length).toBeGreaterThan(5);
    await expectIds(`Observation?patient=${p.id}&code=${code}`, mine.filter((o) => has(o, code)));
    await expectIds(`Observation?code=${code}&subject=${ref(p)}&date=ge2014`, mine.filter((o) => has(o, code) && eff(o)[1] >= T('2014-01-01T00:00:00Z')));
    await expectIds(`Patient/${p.id}/Observation?code:not=${code}&date=lt2016`, mine.filter((o) => !has(o, code) && eff(o)[0] < T('2016-01-01T00:00:00Z')));
    await expectIds(`Observation?subject:Patient=${p.id}&value-quantity=gt100`, mine.filter((o) => o.valueQuantity?.value > 100));
    await expectIds(`Observation?patient=${ref(p)}&value-quantity:missing=true`, mine.filter((o) => !o.valueQuantity && !o.valueSampledData));
  });
  it('chains, conditions on the resource row, two patients, and paging', async () => {
    const p = pick();
    const mine = obsOf(p);
    const encounter = new Map(data.byType('Encounter').map((e) => [ref(e), e]));
    const cls = encounter.get(mine[0].encounter.reference)!.class.code;
    await expectIds(`Observation?patient=${p.id}&encounter.class=${cls}`, mine.filter((o) => encounter.get(o.encounter?.reference)?.class?.code === cls));
    await expectIds(`Observation?patient=${p.id}&_lastUpdated=gt2000-01-01`, mine);
    await expectIds(`Observation?patient=${p.id}&_id=${mine[1].id},${mine[3].id}`, [mine[1], mine[3]]);
    await expectIds(`Observation?patient=${p.id}&patient=${data.byType('Patient')[0].id}`, []);
    await expectIds(`Observation?patient=${p.id},${data.byType('Patient')[0].id}`, [...mine, ...obsOf(data.byType('Patient')[0])]);
    const code = codings(mine[0].code)[0].code;
    const { ids, pages } = await searchAll(q(`Patient/${p.id}/Observation?code:not=${code}&_sort=-date`), 3);
    const expected = mine.filter((o) => !has(o, code));
    expect(sorted(ids)).toEqual(sorted(expected.map(ref)));
    expect(pages).toBe(Math.ceil(expected.length / 3) || 1);
  });
});
