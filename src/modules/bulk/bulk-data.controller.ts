import { createReadStream } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { Controller, Delete, Get, Inject, Optional, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { Db } from '../database/db.js';
import type { RawBody } from '../../fhir/rest/http-body.js';
import { FhirError, issue, outcome } from '../../fhir/operation-outcome.js';
import { DEVELOPMENT_PRINCIPAL, REQUEST_AUTHENTICATOR, type Principal, type RequestAuthenticator } from '../../fhir/pipeline/principal.js';
import { authenticationRequest } from '../../fhir/rest/authentication-request.js';
import { toFhirError } from '../../fhir/rest/errors.js';
import { renderError } from '../../fhir/rest/fhir-response.js';
import { ASSOCIATED_PASS } from './associated-provenance.js';
import { BulkAudit } from './bulk-audit.js';
import { BULK_CONFIG } from './bulk-tokens.js';
import type { BulkConfig } from './bulk-config.js';
import { BulkJobStore, ownsJob, type BulkJob, type BulkJobKind } from './bulk-job-store.js';
import { exportStatusPath } from './export-operation.js';
import type { ExportCheckpoint } from './export-job.js';
import type { ExportRequest } from './export-request.js';
import { importManifest, importProgress } from './import-manifest.js';
import { removeJobFiles } from './job-files.js';

/**
 * The one place where this door learns who is asking: the REST door's authenticator, given the same request facts
 * (bearer token, declared purpose of use). Status, cancel and download compare the principal with the job's owner
 * (ownsJob: the client, and the user for user tokens).
 */
async function authenticate(req: FastifyRequest, authenticator?: RequestAuthenticator): Promise<Principal> {
  if (!authenticator) return { ...DEVELOPMENT_PRINCIPAL, address: req.ip };
  return authenticator.authenticate(authenticationRequest(req, req.url.replace(/^\/fhir\/?/, '')));
}

const NDJSON_TYPES = new Set(['application/fhir+ndjson', 'application/ndjson', 'application/x-ndjson']);

function sendJson(reply: FastifyReply, status: number, body: unknown, mediaType = 'application/json'): void {
  reply.status(status).header('Content-Type', `${mediaType}; charset=utf-8`).send(JSON.stringify(body));
}

/**
 * The bulk data endpoints that are not FHIR interactions: status polling (202 with X-Progress, then the manifest),
 * cancellation (DELETE), and file download (`application/fhir+ndjson`, streamed from disk). Only the client that
 * started a job may see it: the principal's clientId (and, for a user's token, userId) must equal the job's
 * (undefined equals undefined in development mode, where every request is the same principal).
 */
@Controller('fhir/_bulk')
export class BulkDataController {
  constructor(
    private readonly jobs: BulkJobStore,
    private readonly audit: BulkAudit,
    private readonly db: Db,
    @Inject(BULK_CONFIG) private readonly config: BulkConfig,
    @Inject(HUB_CONFIG) private readonly hub: HubConfig,
    @Optional() @Inject(REQUEST_AUTHENTICATOR) private readonly authenticator?: RequestAuthenticator,
  ) {}

  @Get('export/:id')
  exportStatus(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, async () => this.status(await this.owned(req, 'export', id), reply));
  }

  @Get('import/:id')
  importStatus(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, async () => this.status(await this.owned(req, 'import', id), reply));
  }

  @Delete('export/:id')
  cancelExport(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, () => this.cancel(req, 'export', id, reply));
  }

  @Delete('import/:id')
  cancelImport(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, () => this.cancel(req, 'import', id, reply));
  }

  /** An NDJSON file for $import, kept like an export's files (retention) and usable only by the client that sent it. */
  @Post('files')
  upload(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, async () => {
      const principal = await authenticate(req, this.authenticator);
      const raw = req.body as RawBody | undefined;
      if (!raw || !NDJSON_TYPES.has(raw.mediaType)) throw new FhirError(415, 'Upload NDJSON with Content-Type application/fhir+ndjson', 'not-supported');
      const id = randomUUID();
      const text = raw.text.length && !raw.text.endsWith('\n') ? `${raw.text}\n` : raw.text;
      const count = text.split('\n').filter((l) => l.trim().length > 0).length;
      await mkdir(path.join(this.config.dir, id), { recursive: true });
      await writeFile(path.join(this.config.dir, id, 'upload.ndjson'), text);
      const { address: _a, ...owner } = principal;
      await this.jobs.createFinished(this.db, { id, kind: 'upload', requestUrl: `${this.hub.fhirBaseUrl}/_bulk/files`, principal: owner, retentionSeconds: this.config.retentionSeconds }, {
        fileName: 'upload.ndjson', kind: 'output', ordinal: 1, resourceType: 'Resource', count, bytes: Buffer.byteLength(text),
      });
      const url = `${this.hub.fhirBaseUrl}/_bulk/files/${id}`;
      reply.header('Location', url);
      sendJson(reply, 201, { url, count });
    });
  }

  @Get('export/:id/:file')
  download(@Param('id') id: string, @Param('file') file: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, async () => this.sendFile(await this.owned(req, 'export', id), file, req, reply));
  }

  @Get('import/:id/:file')
  downloadImportErrors(@Param('id') id: string, @Param('file') file: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.guard(reply, async () => this.sendFile(await this.owned(req, 'import', id), file, req, reply));
  }

  private async guard(reply: FastifyReply, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      renderError(reply, toFhirError(err), { mediaType: 'application/fhir+json', pretty: false });
    }
  }

  /** The job, when it exists and the caller is the client that started it. */
  private async owned(req: FastifyRequest, kind: BulkJobKind, id: string): Promise<BulkJob> {
    const job = await this.jobs.get(id, kind);
    if (!job) throw FhirError.notFound(`No ${kind} job ${id} (unknown, cancelled or expired)`);
    const principal = await authenticate(req, this.authenticator);
    if (!ownsJob(principal, job)) throw new FhirError(403, `This ${kind} job belongs to another client or user`, 'forbidden');
    return job;
  }

  private async status(job: BulkJob, reply: FastifyReply): Promise<void> {
    if (job.state === 'queued' || job.state === 'running') {
      const progress = job.kind === 'export' ? exportProgress(job) : importProgress(job);
      reply.header('X-Progress', progress).header('Retry-After', '2');
      reply.status(202).send();
      return;
    }
    if (job.state === 'failed') throw new FhirError(500, `The ${job.kind} job failed: ${job.error ?? 'unknown error'}`, 'exception');
    const base = this.hub.fhirBaseUrl;
    const outputs = await this.jobs.outputs(job.id);
    const url = (file: string) => `${base}/${exportStatusPath(job.id).replace('export', job.kind)}/${file}`;
    if (job.kind === 'import') return sendJson(reply, 200, importManifest(job, outputs, url));
    reply.header('Expires', new Date(Date.parse(job.finishedAt ?? new Date().toISOString()) + this.config.retentionSeconds * 1000).toUTCString());
    sendJson(reply, 200, {
      transactionTime: job.transactionTime,
      request: job.requestUrl,
      requiresAccessToken: true,
      output: outputs.filter((o) => o.kind === 'output').map((o) => ({ type: o.resourceType, url: url(o.fileName), count: o.count })),
      error: outputs.filter((o) => o.kind === 'error').map((o) => ({ type: 'OperationOutcome', url: url(o.fileName), count: o.count })),
    });
  }

  private async cancel(req: FastifyRequest, kind: BulkJobKind, id: string, reply: FastifyReply): Promise<void> {
    const job = await this.owned(req, kind, id);
    await this.jobs.delete(job.id);
    // the job is cancelled once its row is gone; files it is still writing go when its runner notices
    await removeJobFiles(this.config.dir, job.id);
    if (job.kind === 'export') {
      const r = job.request as ExportRequest;
      await this.audit.record({ action: 'export-cancelled', jobId: job.id, principal: job.principal, level: r.level, types: r.types, patients: r.patients ?? 'all', resources: job.processed });
    }
    sendJson(reply, 202, outcome(issue('information', 'informational', `${kind} job ${id} cancelled; its files are deleted`)), 'application/fhir+json');
  }

  private async sendFile(job: BulkJob, file: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const output = await this.jobs.output(job.id, file);
    if (!output || job.state !== 'completed') throw FhirError.notFound(`No file ${file} in ${job.kind} job ${job.id}`);
    await this.audit.record({ action: 'export-file-downloaded', jobId: job.id, principal: job.principal, file, resourceType: output.resourceType, count: output.count, address: req.ip });
    reply.status(200).header('Content-Type', 'application/fhir+ndjson').header('Content-Length', String(output.bytes));
    // the file may be longer than its checkpointed size only while a job runs; a finished one is exact
    return reply.send(createReadStream(path.join(this.config.dir, job.id, output.fileName), { end: Math.max(0, output.bytes - 1) }));
  }
}

function exportProgress(job: BulkJob<ExportRequest, ExportCheckpoint>): string {
  if (job.state === 'queued') return 'queued';
  const types = job.request.types;
  const done = types.filter((t) => job.checkpoint?.[t]?.done).length;
  const active = types.filter((t) => job.checkpoint?.[t] && !job.checkpoint[t].done);
  const associated = job.checkpoint?.[ASSOCIATED_PASS] && !job.checkpoint[ASSOCIATED_PASS].done ? '; writing associated Provenance' : '';
  return `${job.processed} resources written; ${done} of ${types.length} types done${active.length ? ` (writing ${active.join(', ')})` : ''}${associated}`;
}
