import { Inject, Injectable } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../../modules/config/hub-config.js';
import type { Queryable } from '../../modules/database/db.js';
import { FhirError } from '../operation-outcome.js';
import type { Interaction } from '../pipeline/interaction.js';
import { ResourceStore } from '../store/resource-store.js';

const KNOWN = new Set(['_count', '_since', '_at', '_page', '_format', '_pretty', '_list']);

function instant(name: string, value: string): string {
  // FHIR instant or dateTime; partial dates are allowed for _at and mean their start
  if (!/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw FhirError.badRequest(`${name} must be a FHIR instant, got "${value}"`);
  }
  return new Date(value).toISOString();
}

/** History at instance, type and system level as a `history` Bundle, newest first, with keyset paging links. */
@Injectable()
export class HistoryReader {
  constructor(
    private readonly store: ResourceStore,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  async bundle(q: Queryable, ix: Interaction, baseUrl: string): Promise<any> {
    const get = (k: string) => ix.params.find(([n]) => n === k)?.[1];
    for (const [k] of ix.params) {
      if (!KNOWN.has(k) && ix.prefer.handling === 'strict') throw FhirError.badRequest(`Unknown history parameter "${k}"`);
    }
    const countRaw = get('_count');
    const count = countRaw === undefined ? this.config.defaultPageSize : Number(countRaw);
    if (!Number.isInteger(count) || count < 0) throw FhirError.badRequest(`_count must be a non-negative integer, got "${countRaw}"`);
    const page = get('_page');
    if (page !== undefined && !/^\d+$/.test(page)) throw FhirError.badRequest('Malformed _page cursor');
    const since = get('_since');
    const at = get('_at');
    const scope = { resourceType: ix.resourceType, id: ix.id };
    if (ix.kind === 'history-instance') {
      const current = await this.store.read(q, ix.resourceType!, ix.id!);
      if (!current) throw FhirError.notFound(`${ix.resourceType}/${ix.id} is not known`);
    }
    const { versions, next } = await this.store.history(q, scope, {
      since: since ? instant('_since', since) : undefined,
      at: at ? instant('_at', at) : undefined,
      count: Math.min(count, this.config.maxPageSize),
      before: page,
    });
    const path = [ix.resourceType, ix.id, '_history'].filter(Boolean).join('/');
    const keep = ix.params.filter(([k]) => k !== '_page');
    const link = (extra: [string, string][]) =>
      `${baseUrl}/${path}${keep.length + extra.length ? '?' : ''}${[...keep, ...extra].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
    const links = [{ relation: 'self', url: link(page ? [['_page', page]] : []) }];
    if (next) links.push({ relation: 'next', url: link([['_page', next]]) });
    return {
      resourceType: 'Bundle',
      type: 'history',
      link: links,
      entry: versions.map((v) => {
        const entry: any = { fullUrl: `${baseUrl}/${v.resourceType}/${v.id}` };
        if (!v.deleted && v.json) entry.resource = JSON.parse(v.json);
        entry.request = {
          method: v.deleted ? 'DELETE' : v.versionId === 1 ? 'POST' : 'PUT',
          url: v.deleted || v.versionId > 1 ? `${v.resourceType}/${v.id}` : v.resourceType,
        };
        entry.response = {
          status: v.deleted ? '204' : v.versionId === 1 ? '201' : '200',
          etag: `W/"${v.versionId}"`,
          lastModified: v.lastUpdated,
        };
        return entry;
      }),
    };
  }
}
