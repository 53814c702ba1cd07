import type { FastifyReply } from 'fastify';
import { applySummary, parseElements, parseSummary } from '../engine/summary.js';
import { FhirError, outcome, issue } from '../operation-outcome.js';
import { resultResource, type Interaction, type InteractionResult } from '../pipeline/interaction.js';

export interface RenderOptions {
  baseUrl: string;
  mediaType: string;
  pretty: boolean;
}

function send(reply: FastifyReply, status: number, body: string | undefined, mediaType: string): void {
  reply.status(status);
  reply.header('X-Request-Id', String(reply.request.id));
  if (body === undefined) {
    reply.send();
    return;
  }
  reply.header('Content-Type', `${mediaType}; charset=utf-8`);
  reply.send(body);
}

function serialise(value: unknown, pretty: boolean): string {
  return pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}

/** Writes an InteractionResult as HTTP: status, ETag/Last-Modified/Location, and the body the Prefer header asks for. */
export function renderResult(reply: FastifyReply, ix: Interaction, res: InteractionResult, opts: RenderOptions): void {
  if (res.versionId) reply.header('ETag', `W/"${res.versionId}"`);
  if (res.lastUpdated) reply.header('Last-Modified', new Date(res.lastUpdated).toUTCString());
  if (res.location) {
    reply.header('Location', `${opts.baseUrl}/${res.location}`);
    if (res.status === 201 || res.status === 200) reply.header('Content-Location', `${opts.baseUrl}/${res.location}`);
  }
  for (const [k, v] of Object.entries(res.headers ?? {})) reply.header(k, v);
  if (res.status === 204 || res.status === 304) return send(reply, res.status, undefined, opts.mediaType);

  const isWrite = ix.kind === 'create' || ix.kind === 'update' || ix.kind === 'patch';
  if (isWrite && ix.prefer.return === 'minimal') return send(reply, res.status, undefined, opts.mediaType);
  if (isWrite && ix.prefer.return === 'OperationOutcome') {
    const oo = res.outcome ?? outcome(issue('information', 'informational', `${ix.kind} of ${res.location ?? ix.resourceType} succeeded`));
    return send(reply, res.status, serialise(oo, opts.pretty), opts.mediaType);
  }

  // _summary / _elements on read; search applies them itself
  const summary = ix.kind === 'read' || ix.kind === 'vread' ? parseSummary(param(ix, '_summary')) : undefined;
  const elements = ix.kind === 'read' || ix.kind === 'vread' ? parseElements(ix.params.filter(([k]) => k === '_elements').map(([, v]) => v)) : undefined;
  if (res.resourceJson !== undefined && !summary && !elements && !opts.pretty) {
    return send(reply, res.status, res.resourceJson, opts.mediaType); // the stored JSON text, as is
  }
  let body = resultResource(res);
  if (body && (summary || elements)) body = applySummary(body, summary, elements);
  return send(reply, res.status, body === undefined ? undefined : serialise(body, opts.pretty), opts.mediaType);
}

export function renderError(reply: FastifyReply, err: FhirError, opts: Pick<RenderOptions, 'mediaType' | 'pretty'>): void {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  send(reply, err.status, serialise(err.outcome, opts.pretty), opts.mediaType.includes('json') ? opts.mediaType : 'application/fhir+json');
}

function param(ix: Interaction, name: string): string | undefined {
  return ix.params.find(([k]) => k === name)?.[1];
}
