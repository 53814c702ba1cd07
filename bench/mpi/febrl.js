// FEBRL deduplication data sets (../shared/data/febrl, see its README) as FHIR Patients, and their ground truth.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../hub-process.js';

export const FEBRL_DIR = process.env.FEBRL_DIR ?? path.resolve(ROOT, '..', 'shared', 'data', 'febrl');
export const SSN_SYSTEM = 'http://example.org/febrl/soc_sec_id';

/** Rows of one data set: { recId, entity (the N of rec-N-...), fields }. */
export function readDataset(n) {
  const text = fs.readFileSync(path.join(FEBRL_DIR, `febrl_dataset${n}.csv`), 'utf8');
  const [header, ...lines] = text.split(/\r?\n/).filter((l) => l.trim());
  const cols = header.split(',').map((c) => c.trim());
  return lines.map((line) => {
    const values = line.split(',').map((v) => v.trim());
    const row = Object.fromEntries(cols.map((c, i) => [c, values[i] ?? '']));
    const entity = /^rec-(\d+)-/.exec(row.rec_id)[1];
    return { recId: row.rec_id, entity, row };
  });
}

function validDate(s) {
  if (!/^\d{8}$/.test(s)) return undefined;
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
  const d = new Date(`${iso}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === iso ? iso : undefined;
}

/** One FEBRL row as the Patient a registration system would send (empty and invalid values left out). */
export function toPatient(row) {
  const p = { resourceType: 'Patient' };
  if (row.soc_sec_id) p.identifier = [{ system: SSN_SYSTEM, value: row.soc_sec_id }];
  const name = {};
  if (row.surname) name.family = row.surname;
  if (row.given_name) name.given = [row.given_name];
  if (Object.keys(name).length) p.name = [name];
  const birthDate = validDate(row.date_of_birth);
  if (birthDate) p.birthDate = birthDate;
  const line = [[row.street_number, row.address_1].filter(Boolean).join(' '), row.address_2].filter(Boolean);
  const address = {};
  if (line.length) address.line = line;
  if (row.suburb) address.city = row.suburb;
  if (row.state) address.state = row.state;
  if (row.postcode) address.postalCode = row.postcode;
  if (Object.keys(address).length) p.address = [address];
  return p;
}

/** Pairs (a < b, by index) of records of the same entity. */
export function truePairs(records) {
  const byEntity = new Map();
  records.forEach((r, i) => byEntity.set(r.entity, [...(byEntity.get(r.entity) ?? []), i]));
  const pairs = new Set();
  for (const ids of byEntity.values()) for (let x = 0; x < ids.length; x++) for (let y = x + 1; y < ids.length; y++) pairs.add(`${ids[x]},${ids[y]}`);
  return pairs;
}

/** Pairs implied by a clustering (cluster label per record index). */
export function clusterPairs(labels) {
  const byLabel = new Map();
  labels.forEach((l, i) => l !== undefined && byLabel.set(l, [...(byLabel.get(l) ?? []), i]));
  const pairs = new Set();
  for (const ids of byLabel.values()) for (let x = 0; x < ids.length; x++) for (let y = x + 1; y < ids.length; y++) pairs.add(`${Math.min(ids[x], ids[y])},${Math.max(ids[x], ids[y])}`);
  return pairs;
}

export function prf(truth, predicted) {
  let tp = 0;
  for (const p of predicted) if (truth.has(p)) tp++;
  const precision = predicted.size ? tp / predicted.size : 1;
  const recall = truth.size ? tp / truth.size : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { tp, fp: predicted.size - tp, fn: truth.size - tp, precision, recall, f1 };
}
