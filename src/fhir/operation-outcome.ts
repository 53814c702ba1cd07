/** OperationOutcome building blocks and the one error type every stage throws. */

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface OutcomeIssue {
  severity: IssueSeverity;
  code: string;
  diagnostics?: string;
  details?: { text?: string; coding?: { system?: string; code?: string }[] };
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OutcomeIssue[];
}

export function outcome(...issues: OutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function issue(severity: IssueSeverity, code: string, diagnostics: string, expression?: string[]): OutcomeIssue {
  const i: OutcomeIssue = { severity, code, diagnostics };
  if (expression?.length) i.expression = expression;
  return i;
}

/** A failure with the HTTP status it deserves and the OperationOutcome that explains it. */
export class FhirError extends Error {
  readonly outcome: OperationOutcome;
  constructor(
    readonly status: number,
    outcomeOrMessage: OperationOutcome | string,
    code = 'processing',
    readonly headers: Record<string, string> = {},
  ) {
    const oo =
      typeof outcomeOrMessage === 'string' ? outcome(issue(status >= 500 ? 'fatal' : 'error', code, outcomeOrMessage)) : outcomeOrMessage;
    super(oo.issue.map((i) => i.diagnostics ?? i.details?.text).join('; '));
    this.outcome = oo;
  }

  static badRequest(msg: string, code = 'invalid') {
    return new FhirError(400, msg, code);
  }
  static notFound(msg: string) {
    return new FhirError(404, msg, 'not-found');
  }
  static gone(msg: string) {
    return new FhirError(410, msg, 'deleted');
  }
  static conflict(msg: string) {
    return new FhirError(409, msg, 'conflict');
  }
  static preconditionFailed(msg: string) {
    return new FhirError(412, msg, 'conflict');
  }
  static unprocessable(oo: OperationOutcome) {
    return new FhirError(422, oo);
  }
  static methodNotAllowed(msg: string) {
    return new FhirError(405, msg, 'not-supported');
  }
}

export function allOk(message = 'All OK'): OperationOutcome {
  return outcome({ severity: 'information', code: 'informational', diagnostics: message });
}
