import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Db, type Queryable, type Tx } from '../../modules/database/db.js';
import { FhirError } from '../operation-outcome.js';
import { CreateBatcher } from './create-batcher.js';
import { ReadBatcher } from './read-batcher.js';
import { SEARCH_INDEX_WRITER, type SearchIndexWriter, type StoredVersion } from './stored-resource.js';
import { ResourceWriteHooks } from './write-hooks.js';

// last_updated travels as epoch milliseconds: turning a float into an ISO string is much cheaper than pg's date parser
const ROW = `r.rid::text AS rid, r.resource_type, r.id, v.version_id, (extract(epoch FROM v.last_updated) * 1000)::float8 AS lu_ms,
             v.deleted, v.method, v.content::text AS json`;

function toStored(row: any): StoredVersion {
  return {
    rid: row.rid,
    resourceType: row.resource_type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: new Date(row.lu_ms).toISOString(),
    deleted: row.deleted,
    method: row.method,
    json: row.json ?? undefined,
  };
}

/** A create stamped with its id and meta, waiting to be written with others (see createMany). */
export interface PreparedCreate {
  resourceType: string;
  id: string;
  lastUpdated: string;
  /** the stamped resource; its JSON text is written when the creates are (createMany), not kept meanwhile */
  doc: any;
  /** Runs in the group's transaction just before COMMIT (the create's audit record), for grouped creates. */
  beforeCommit?: (tx: Tx, stored: StoredVersion) => Promise<void>;
}

export interface WriteOptions {
  /** Version the client expects to replace (If-Match); a mismatch is 412. */
  expectedVersion?: number;
  /** HTTP method recorded with the version in history. */
  method?: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

/**
 * Versioned resources: the only writer of `resource` and `resource_version`. Every write sets meta.versionId and
 * meta.lastUpdated, appends a version, and hands the new version to the search index writer in the same transaction.
 */
@Injectable()
export class ResourceStore {
  constructor(
    private readonly db: Db,
    @Optional() @Inject(SEARCH_INDEX_WRITER) private readonly index?: SearchIndexWriter,
    @Optional() private readonly hooks?: ResourceWriteHooks,
  ) {
    this.reads = new ReadBatcher<any>(
      db,
      `SELECT ${ROW} FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
       WHERE (r.resource_type, r.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      'store_read_batch',
    );
    this.creates = new CreateBatcher<PreparedCreate>(db, async (tx, items) => {
      const stored = await this.createMany(tx, items);
      await Promise.all(items.map((it, i) => it.beforeCommit?.(tx, stored[i])));
      return stored;
    });
  }

  private readonly reads: ReadBatcher<any>;
  private readonly creates: CreateBatcher<PreparedCreate>;

  /** A create outside any transaction, committed together with the other creates of this turn of the event loop. */
  createGrouped(item: PreparedCreate): Promise<StoredVersion> {
    return this.creates.create(item);
  }


  /** The current version (possibly a delete tombstone), or undefined when the id was never used. */
  async read(q: Queryable, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    if (q === this.db) {
      // outside a transaction: batched with the other reads of this turn of the event loop
      const row = await this.reads.read(resourceType, id);
      return row ? toStored(row) : undefined;
    }
    const res = await q.query({
      name: 'store_read',
      text: `SELECT ${ROW} FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
             WHERE r.resource_type = $1 AND r.id = $2`,
      values: [resourceType, id],
    });
    return res.rows.length ? toStored(res.rows[0]) : undefined;
  }

  /** The current version, row-locked until the transaction ends (read-modify-write such as PATCH). */
  async readForUpdate(tx: Tx, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const res = await tx.query({
      name: 'store_read_for_update',
      text: `SELECT ${ROW} FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version_id = r.version_id
             WHERE r.resource_type = $1 AND r.id = $2 FOR UPDATE OF r`,
      values: [resourceType, id],
    });
    return res.rows.length ? toStored(res.rows[0]) : undefined;
  }

  async vread(q: Queryable, resourceType: string, id: string, versionId: number): Promise<StoredVersion | undefined> {
    const res = await q.query({
      name: 'store_vread',
      text: `SELECT ${ROW} FROM resource r JOIN resource_version v ON v.rid = r.rid
             WHERE r.resource_type = $1 AND r.id = $2 AND v.version_id = $3`,
      values: [resourceType, id, versionId],
    });
    return res.rows.length ? toStored(res.rows[0]) : undefined;
  }

  /** Creates a new resource with a server-assigned id (or the given one, which must be unused). */
  async create(tx: Tx, resourceType: string, resource: any, id: string = randomUUID(), method: WriteOptions['method'] = 'POST'): Promise<StoredVersion> {
    const stored = await this.tryCreate(tx, resourceType, resource, id, method);
    if (!stored) throw FhirError.conflict(`${resourceType}/${id} already exists`);
    return stored;
  }

  /** Inserts version 1, or returns undefined when the id is taken (the insert waits for a concurrent creator). */
  private async tryCreate(tx: Tx, resourceType: string, resource: any, id: string, method: WriteOptions['method']): Promise<StoredVersion | undefined> {
    const lastUpdated = new Date().toISOString();
    const doc = stamp(resource, id, 1, lastUpdated);
    const json = JSON.stringify(doc);
    const res = await tx.query({
      name: 'store_create',
      text: `WITH r AS (
               INSERT INTO resource (resource_type, id, version_id, last_updated) VALUES ($1, $2, 1, $3)
               ON CONFLICT (resource_type, id) DO NOTHING RETURNING rid)
             INSERT INTO resource_version (rid, resource_type, id, version_id, last_updated, method, content)
             SELECT rid, $1, $2, 1, $3, $5, $4::json FROM r RETURNING rid::text`,
      values: [resourceType, id, lastUpdated, json, method],
    });
    if (res.rowCount === 0) return undefined;
    const stored: StoredVersion = { rid: res.rows[0].rid, resourceType, id, versionId: 1, lastUpdated, deleted: false, method, json };
    await this.index?.write(tx, stored, doc);
    await this.hooks?.run(tx, [{ stored, resource: doc }]);
    return stored;
  }

  /** Stamps a new resource (version 1) without writing it: a transaction Bundle writes its creates together. */
  prepareCreate(resourceType: string, resource: any, id: string, lastUpdated: string): PreparedCreate {
    const doc = stamp(resource, id, 1, lastUpdated);
    return { resourceType, id, lastUpdated, doc };
  }

  /**
   * Writes many prepared creates with a few statements whatever their number: one INSERT per table over unnest()
   * arrays, then the index rows of all of them. Ids must be unused (a clash is a 409 and the transaction fails).
   */
  async createMany(tx: Tx, items: PreparedCreate[]): Promise<StoredVersion[]> {
    if (!items.length) return [];
    // serialised here, not when each create was prepared: texts kept across a whole Bundle's validation survived
    // the young-generation collections in between (copying them is what garbage collection costs during ingest)
    const json = items.map((i) => JSON.stringify(i.doc));
    const res = await tx.query({
      name: 'store_create_many',
      // the documents travel as ONE json array (cheap to build from the JSON texts; json_array_elements hands back
      // each element's own text, which is what is stored)
      text: `WITH u AS (SELECT a.t, a.i, a.lu, e.c FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS a(t, i, lu, n)
                        JOIN json_array_elements($4::json) WITH ORDINALITY AS e(c, n) USING (n)),
             r AS (INSERT INTO resource (resource_type, id, version_id, last_updated)
                   SELECT t, i, 1, lu FROM u RETURNING rid, resource_type, id)
             INSERT INTO resource_version (rid, resource_type, id, version_id, last_updated, method, content)
             SELECT r.rid, u.t, u.i, 1, u.lu, 'POST', u.c FROM r JOIN u ON u.t = r.resource_type AND u.i = r.id
             RETURNING rid::text AS rid, resource_type, id`,
      values: [items.map((i) => i.resourceType), items.map((i) => i.id), items.map((i) => i.lastUpdated), `[${json.join(',')}]`],
    });
    const ridOf = new Map<string, string>(res.rows.map((r: any) => [`${r.resource_type}/${r.id}`, r.rid]));
    const stored = items.map((it, i): StoredVersion => ({
      rid: ridOf.get(`${it.resourceType}/${it.id}`)!,
      resourceType: it.resourceType,
      id: it.id,
      versionId: 1,
      lastUpdated: it.lastUpdated,
      deleted: false,
      method: 'POST',
      json: json[i],
    }));
    if (this.index?.writeMany) await this.index.writeMany(tx, stored.map((s, i) => ({ stored: s, resource: items[i].doc })));
    else for (const [i, s] of stored.entries()) await this.index?.write(tx, s, items[i].doc);
    await this.hooks?.run(tx, stored.map((s, i) => ({ stored: s, resource: items[i].doc })));
    return stored;
  }

  /**
   * Replaces the current version (or creates the resource with the client's id when it does not exist, or
   * resurrects a deleted one). Concurrent writers to one resource serialise on its row lock, so no update is lost.
   */
  async update(tx: Tx, resourceType: string, id: string, resource: any, opts: WriteOptions = {}): Promise<{ stored: StoredVersion; created: boolean }> {
    let current = await this.lockCurrent(tx, resourceType, id);
    if (!current) {
      if (opts.expectedVersion !== undefined) throw FhirError.preconditionFailed(`${resourceType}/${id} does not exist (If-Match ${opts.expectedVersion})`);
      const created = await this.tryCreate(tx, resourceType, resource, id, opts.method ?? 'PUT');
      if (created) return { stored: created, created: true };
      // a concurrent update-as-create of the same id committed first: this write becomes an update of it
      current = await this.lockCurrent(tx, resourceType, id);
      if (!current) throw FhirError.conflict(`${resourceType}/${id} is being created concurrently; retry`);
    }
    if (opts.expectedVersion !== undefined && opts.expectedVersion !== current.version_id) {
      throw FhirError.preconditionFailed(`Version conflict: ${resourceType}/${id} is at version ${current.version_id}, If-Match asked for ${opts.expectedVersion}`);
    }
    const stored = await this.appendVersion(tx, current, resourceType, id, resource, opts.method ?? 'PUT');
    return { stored, created: current.deleted };
  }

  /** Deletes by appending a tombstone version; undefined when there was nothing to delete. */
  async delete(tx: Tx, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const current = await this.lockCurrent(tx, resourceType, id);
    if (!current || current.deleted) return undefined;
    const stored = await this.appendVersion(tx, current, resourceType, id, undefined, 'DELETE');
    await this.index?.remove(tx, stored);
    await this.hooks?.run(tx, [{ stored }]);
    return stored;
  }

  private async lockCurrent(tx: Tx, resourceType: string, id: string): Promise<{ rid: string; version_id: number; deleted: boolean } | undefined> {
    const res = await tx.query({
      name: 'store_lock',
      text: `SELECT rid::text AS rid, version_id, deleted FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE`,
      values: [resourceType, id],
    });
    return res.rows[0];
  }

  private async appendVersion(
    tx: Tx,
    current: { rid: string; version_id: number },
    resourceType: string,
    id: string,
    resource: any | undefined,
    method: NonNullable<WriteOptions['method']>,
  ): Promise<StoredVersion> {
    const versionId = current.version_id + 1;
    const lastUpdated = new Date().toISOString();
    const deleted = resource === undefined;
    const doc = deleted ? undefined : stamp(resource, id, versionId, lastUpdated);
    const json = doc ? JSON.stringify(doc) : undefined;
    await tx.query({
      name: 'store_append',
      text: `WITH u AS (UPDATE resource SET version_id = $2, last_updated = $3, deleted = $4 WHERE rid = $1)
             INSERT INTO resource_version (rid, resource_type, id, version_id, last_updated, method, deleted, content)
             VALUES ($1, $5, $6, $2, $3, $7, $4, $8::json)`,
      values: [current.rid, versionId, lastUpdated, deleted, resourceType, id, method, json ?? null],
    });
    const stored: StoredVersion = { rid: current.rid, resourceType, id, versionId, lastUpdated, deleted, method, json };
    if (doc) {
      await this.index?.write(tx, stored, doc);
      await this.hooks?.run(tx, [{ stored, resource: doc }]);
    }
    return stored;
  }

  /** Versions newest first, for history at instance, type or system level. `before` is a paging cursor (seq). */
  async history(
    q: Queryable,
    scope: { resourceType?: string; id?: string },
    opts: { since?: string; at?: string; count: number; before?: string },
  ): Promise<{ versions: StoredVersion[]; next?: string }> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      values.push(v);
      where.push(sql.replace('?', `$${values.length}`));
    };
    if (scope.resourceType) add('v.resource_type = ?', scope.resourceType);
    if (scope.id) add('v.id = ?', scope.id);
    if (opts.since) add('v.last_updated >= ?', opts.since);
    if (opts.before) add('v.seq < ?', opts.before);
    let from = 'resource_version v';
    if (opts.at) {
      // _at: the version of each resource that was current at that instant
      values.push(opts.at);
      const p = `$${values.length}`;
      from = `(SELECT DISTINCT ON (rid) * FROM resource_version WHERE last_updated <= ${p}
               ${scope.resourceType ? `AND resource_type = $1` : ''} ORDER BY rid, version_id DESC) v`;
    }
    values.push(opts.count + 1);
    const res = await q.query(
      `SELECT v.seq::text AS seq, v.rid::text AS rid, v.resource_type, v.id, v.version_id,
              (extract(epoch FROM v.last_updated) * 1000)::float8 AS lu_ms, v.deleted, v.method,
              v.content::text AS json
       FROM ${from} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY v.seq DESC LIMIT $${values.length}`,
      values,
    );
    const rows = res.rows;
    const more = rows.length > opts.count;
    if (more) rows.pop();
    return { versions: rows.map(toStored), next: more ? rows[rows.length - 1].seq : undefined };
  }
}

/** Sets id and the server-owned meta fields; keeps the client's other meta (profile, security, tag, source). */
function stamp(resource: any, id: string, versionId: number, lastUpdated: string): any {
  const meta = { ...(resource.meta ?? {}), versionId: String(versionId), lastUpdated };
  return { ...resource, id, meta };
}
