import type { Tx } from '../modules/database/db.js';
import type { ResourceWriteHook, WrittenResource } from '../fhir/store/write-hooks.js';
import { flattenConsent } from './consent-rules.js';
import { WRITING_ORGANIZATION_SYSTEM } from './requester.js';

/**
 * Every write of a Consent (any door, any version, deletes too) rewrites its rows of `consent_rule` in the same
 * transaction, so the next request is decided by the new rules: there is no cache to go stale.
 */
export class ConsentRuleHook implements ResourceWriteHook {
  readonly name = 'consent-rules';
  readonly resourceTypes = ['Consent'] as const;

  async afterWrite(tx: Tx, writes: WrittenResource[]): Promise<void> {
    await tx.query({ name: 'consent_rule_clear', text: 'DELETE FROM consent_rule WHERE consent_rid = ANY($1::bigint[])', values: [writes.map((w) => w.stored.rid)] });
    const rows = writes.flatMap((w) =>
      w.resource && !w.stored.deleted
        ? flattenConsent(w.resource, w.stored.id).map((r) => ({
            consent_rid: w.stored.rid,
            consent_id: r.consentId,
            patient_id: r.patientId,
            provision: r.provision,
            depth: r.depth,
            deny: r.deny,
            actors: r.actors ?? null,
            actions: r.actions ?? null,
            purposes: r.purposes ?? null,
            types: r.types ?? null,
            profiles: r.profiles ?? null,
            labels: r.labels ?? null,
            data_lo: r.dataLo ?? null,
            data_hi: r.dataHi ?? null,
            data_refs: r.dataRefs ?? null,
            valid_lo: r.validLo ?? '-infinity',
            valid_hi: r.validHi ?? 'infinity',
          }))
        : [],
    );
    if (!rows.length) return;
    await tx.query({
      name: 'consent_rule_insert',
      text: `INSERT INTO consent_rule (consent_rid, consent_id, patient_id, provision, depth, deny, actors, actions, purposes, types, profiles,
                                       labels, data_lo, data_hi, data_refs, valid_lo, valid_hi)
             SELECT consent_rid, consent_id, patient_id, provision, depth, deny, actors, actions, purposes, types, profiles,
                    labels, data_lo, data_hi, data_refs, valid_lo, valid_hi
             FROM jsonb_to_recordset($1::jsonb) AS x(consent_rid bigint, consent_id text, patient_id text, provision text, depth integer,
                  deny boolean, actors text[], actions text[], purposes text[], types text[], profiles text[], labels text[],
                  data_lo timestamptz, data_hi timestamptz, data_refs text[], valid_lo timestamptz, valid_hi timestamptz)`,
      values: [JSON.stringify(rows)],
    });
  }
}

/** The organizations that wrote a resource (from the writing-organization tag the consent preparer set). */
export class ResourceOwnerHook implements ResourceWriteHook {
  readonly name = 'consent-owners';

  constructor(readonly resourceTypes: readonly string[]) {}

  async afterWrite(tx: Tx, writes: WrittenResource[]): Promise<void> {
    const rids: string[] = [];
    const orgs: string[] = [];
    for (const w of writes) {
      for (const t of w.resource?.meta?.tag ?? []) {
        if (t?.system === WRITING_ORGANIZATION_SYSTEM && typeof t.code === 'string') {
          rids.push(w.stored.rid);
          orgs.push(t.code);
        }
      }
    }
    if (!rids.length) return;
    await tx.query({
      name: 'resource_owner_insert',
      text: `INSERT INTO resource_owner (rid, organization) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`,
      values: [rids, orgs],
    });
  }
}

/**
 * A PractitionerRole written (any door, deletes too) changes what its practitioner's requests are decided with (their
 * roles and organizations): the consent generation moves on in the same transaction, so no hub keeps the old facts
 * past it (consent-facts-cache.ts).
 */
export class PractitionerRoleGenerationHook implements ResourceWriteHook {
  readonly name = 'consent-generation';
  readonly resourceTypes = ['PractitionerRole'] as const;

  async afterWrite(tx: Tx, writes: WrittenResource[]): Promise<void> {
    if (!writes.length) return;
    await tx.query({ name: 'consent_generation_bump', text: 'UPDATE consent_generation SET gen = gen + 1 WHERE id = 1' });
  }
}
