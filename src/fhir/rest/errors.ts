import { HttpException } from '@nestjs/common';
import { FhirError } from '../operation-outcome.js';

/** Any thrown value as a FhirError: FHIR errors as they are, HTTP/framework errors by status, the rest as 500. */
export function toFhirError(err: unknown): FhirError {
  if (err instanceof FhirError) return err;
  if (err instanceof HttpException) {
    const status = err.getStatus();
    return new FhirError(status, status === 404 ? 'No such endpoint' : err.message, status === 404 ? 'not-found' : 'processing');
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new FhirError(e.statusCode, e.message ?? 'Bad request', e.statusCode === 413 ? 'too-costly' : 'invalid');
  }
  // PostgreSQL: serialization failure / deadlock / lock timeout are conflicts the client may retry
  if (e?.code === '40001' || e?.code === '40P01' || e?.code === '55P03') return new FhirError(409, 'Concurrent update conflict; retry the request', 'conflict');
  if (e?.code === '23505') return new FhirError(409, 'A resource with that id already exists', 'duplicate');
  if (e?.code === '54001') return new FhirError(400, 'The request is too complex to evaluate', 'too-costly');
  return new FhirError(500, 'Internal server error', 'exception');
}
