import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { compileProver, type ContextInfo } from './invariant-prover.js';

/**
 * FHIRPath invariants (ElementDefinition.constraint of severity error), evaluated with the `fhirpath` package.
 *
 * Evaluating FHIRPath costs 5–20 µs per expression, too much to run every invariant on every element. Most R4
 * invariants are of the form `a.empty() or b.empty()`, `a.exists() implies b.exists()`: they hold whenever some of
 * the properties they name are absent. Each expression is therefore analysed once (on the fhirpath package's own
 * parse tree) into "guards": sets of property names such that, when every property of one set is absent from the
 * instance, the expression is known to evaluate to true or empty whatever the rest of the instance holds. At
 * validation time an invariant is evaluated only when no guard applies. The analysis is conservative: anything it
 * cannot prove (functions it does not know, %resource, $this, descendants(), ...) leaves the invariant evaluated.
 *
 * As in the validator this replaces, an invariant holds when it evaluates to `true` or to empty.
 */

/** Constraints checked structurally by the walker, never through FHIRPath. */
export const STRUCTURAL_CONSTRAINTS = new Set(['ele-1', 'ext-1', 'dom-2', 'dom-3', 'dom-4', 'dom-5', 'ref-1']);

/**
 * Invariants not evaluated at all: they need to resolve references to other resources (ctm-1:
 * `member.resolve()`), which base validation of one resource cannot do.
 */
export function isEvaluable(expression: string): boolean {
  return !expression.includes('resolve()');
}

/**
 * R4 expressions the fhirpath package cannot run as published, rewritten to what they mean:
 *  - que-7 `answer is Boolean`: `Boolean` names System.Boolean, never a FHIR `boolean` (R5 fixed it to `boolean`);
 *  - eld-19: the regex escapes `'` and `:`, which JavaScript's unicode-mode RegExp rejects ("Invalid escape").
 */
export function fixExpression(key: string, expression: string): string {
  if (key === 'que-7') return expression.replace('answer is Boolean', 'answer is boolean');
  if (key === 'eld-19') return expression.replaceAll("\\\\\\'", "\\'").replaceAll('\\\\:', ':');
  return expression;
}

export interface Env {
  resource: unknown;
  rootResource: unknown;
}

/** The context element's properties, for guards and the prover. */
export interface InvariantContext extends ContextInfo {
  keysOf(element: string): string[];
}

const NEVER_PROVEN = (): boolean => false;

export class Invariant {
  /** JSON property-name sets; when all names of one set are absent the invariant holds. Undefined until prepared. */
  guards: string[][] | undefined;
  /** Partial evaluator: true when it proves the invariant holds (see invariant-prover.ts). */
  proven: (obj: any) => boolean = NEVER_PROVEN;
  private fn: ((data: unknown, env: Env) => unknown[]) | undefined;

  constructor(
    readonly key: string,
    readonly human: string,
    readonly expression: string,
    /** FHIRPath base (type name or element path) for typed evaluation; undefined at a resource root. */
    readonly base: string | undefined,
  ) {}

  /** Computes the guards, mapping each property name of the expression to the JSON keys holding it. */
  prepare(context: InvariantContext): string[][] {
    if (this.guards) return this.guards;
    let guards: string[][];
    try {
      const ast = fhirpath.parse(this.expression);
      guards = analyseGuards(ast).map((names) => names.flatMap((n) => context.keysOf(n)));
      this.proven = compileProver(ast, context);
    } catch {
      guards = [];
    }
    return (this.guards = guards);
  }

  /** True when the invariant holds on `data`; throws when the expression cannot be evaluated. */
  holds(data: unknown, env: Env): boolean {
    const fn = (this.fn ??= compileExpression(this.expression, this.base));
    const r = fn(data, env);
    return r.length === 0 || (r.length === 1 && r[0] === true);
  }
}

/** Results as plain JSON values; trace() output silenced (R4 invariants use it for debugging). */
const COMPILE_OPTIONS = { resolveInternalTypes: true, traceFn: () => {} };

const compiled = new Map<string, (data: unknown, env: Env) => unknown[]>();

function compileExpression(expression: string, base: string | undefined): (data: unknown, env: Env) => unknown[] {
  const key = `${base ?? ''}|${expression}`;
  let fn = compiled.get(key);
  if (!fn) {
    fn = fhirpath.compile(base ? { base, expression } : expression, r4Model as any, COMPILE_OPTIONS) as any;
    compiled.set(key, fn!);
  }
  return fn!;
}

/** True when no guard applies to `obj`, i.e. the invariant must be evaluated. */
export function mustEvaluate(guards: string[][], obj: any): boolean {
  for (let i = 0; i < guards.length; i++) {
    const g = guards[i];
    let absent = true;
    for (let j = 0; j < g.length; j++) {
      if (obj[g[j]] !== undefined) {
        absent = false;
        break;
      }
    }
    if (absent) return false;
  }
  return true;
}

// ---- analysis ------------------------------------------------------------------------------------------------

/** Value of an expression when all the properties it names are absent: true, false, empty, or unknown. */
type V = 'T' | 'F' | 'E' | 'U';

interface Absent {
  val: V;
  /** property names at the root of a path (relative to the context) */
  roots: Set<string>;
  /** false when the value may depend on anything besides those properties */
  local: boolean;
}

interface Cond {
  roots: Set<string>;
  val: V;
}

const UNKNOWN: Absent = { val: 'U', roots: new Set(), local: false };

/** Functions whose arguments are evaluated per input item (or are type names): skipped when the input is empty. */
const ITEM_ARGUMENT_FUNCTIONS = new Set(['where', 'select', 'all', 'exists', 'repeat', 'aggregate', 'ofType', 'as', 'is', 'trace', 'extension']);

/** Result of a function applied to an empty input collection. */
const ON_EMPTY = new Map<string, V>([
  ...['empty', 'all', 'allTrue', 'allFalse', 'isDistinct'].map((f) => [f, 'T'] as const),
  ...['exists', 'hasValue', 'anyTrue', 'anyFalse'].map((f) => [f, 'F'] as const),
  ...['not', 'where', 'select', 'repeat', 'ofType', 'as', 'is', 'first', 'last', 'tail', 'skip', 'take', 'distinct',
    'trace', 'children', 'descendants', 'single', 'toString', 'toInteger', 'toDecimal', 'lower', 'upper', 'substring',
    'startsWith', 'endsWith', 'contains', 'matches', 'replaceMatches', 'replace', 'length', 'indexOf', 'intersect',
    'exclude', 'resolve', 'extension', 'memberOf'].map((f) => [f, 'E'] as const),
]);

/** Property-name sets whose absence makes the whole expression true or empty. */
export function analyseGuards(ast: any): string[][] {
  const sets = conds(ast)
    .filter((c) => c.val === 'T' || c.val === 'E')
    .map((c) => [...c.roots].sort())
    .sort((a, b) => a.length - b.length);
  const out: string[][] = [];
  // a set that contains another adds nothing: the smaller one applies whenever it does
  for (const names of sets) if (!out.some((o) => o.every((n) => names.includes(n)))) out.push(names);
  return out;
}

function unwrap(n: any): any {
  for (;;) {
    if (n.type === 'EntireExpression' && n.children?.length === 1) n = n.children[0];
    else if (n.type === 'TermExpression' && n.children?.[0]?.type === 'ParenthesizedTerm') n = n.children[0].children[0];
    else return n;
  }
}

function conds(node: any): Cond[] {
  const n = unwrap(node);
  const list: Cond[] = [];
  const self = absent(n);
  if (self.local && self.val !== 'U') list.push({ roots: self.roots, val: self.val });
  const op = logicalOp(n);
  if (op) {
    const a = conds(n.children[0]);
    const b = conds(n.children[1]);
    for (const x of a) if ((op === 'or' && x.val === 'T') || (op === 'and' && x.val === 'F') || (op === 'implies' && x.val === 'F')) list.push({ roots: x.roots, val: op === 'and' ? 'F' : 'T' });
    for (const y of b) if ((op === 'or' && y.val === 'T') || (op === 'and' && y.val === 'F') || (op === 'implies' && y.val === 'T')) list.push({ roots: y.roots, val: op === 'and' ? 'F' : 'T' });
    for (const x of a.slice(0, 8)) {
      for (const y of b.slice(0, 8)) {
        const val = combine(op, x.val, y.val);
        if (val !== 'U') list.push({ roots: new Set([...x.roots, ...y.roots]), val });
      }
    }
  }
  return list;
}

function logicalOp(n: any): 'or' | 'xor' | 'and' | 'implies' | undefined {
  if (n.type === 'OrExpression') return n.text === 'xor' ? 'xor' : 'or';
  if (n.type === 'AndExpression') return 'and';
  if (n.type === 'ImpliesExpression') return 'implies';
  return undefined;
}

function combine(op: string, a: V, b: V): V {
  switch (op) {
    case 'or':
      if (a === 'T' || b === 'T') return 'T';
      if (a === 'U' || b === 'U') return 'U';
      return a === 'F' && b === 'F' ? 'F' : 'E';
    case 'and':
      if (a === 'F' || b === 'F') return 'F';
      if (a === 'U' || b === 'U') return 'U';
      return a === 'T' && b === 'T' ? 'T' : 'E';
    case 'xor':
      if (a === 'E' || b === 'E') return 'E';
      if (a === 'U' || b === 'U') return 'U';
      return a !== b ? 'T' : 'F';
    default: // implies
      if (a === 'F') return 'T';
      if (a === 'T') return b;
      if (b === 'T') return 'T';
      if (a === 'E') return b === 'U' ? 'U' : 'E';
      return 'U';
  }
}

function merge(val: V, ...parts: Absent[]): Absent {
  const roots = new Set<string>();
  let local = true;
  for (const p of parts) {
    for (const r of p.roots) roots.add(r);
    local &&= p.local;
  }
  return { val, roots, local };
}

/** Abstract evaluation of `n` on a context where every property the expression names is absent. */
function absent(n: any): Absent {
  const c = n.children ?? [];
  switch (n.type) {
    case 'EntireExpression':
      return c.length === 1 ? absent(c[0]) : UNKNOWN;
    case 'TermExpression':
      return term(c[0]);
    case 'InvocationExpression': {
      const left = absent(c[0]);
      const inv = c[1];
      if (inv?.type === 'MemberInvocation') return merge(left.val === 'E' ? 'E' : 'U', left);
      if (inv?.type !== 'FunctionInvocation') return merge('U', left, UNKNOWN);
      const fn = inv.children[0];
      const name: string = fn.children[0].text;
      const args: any[] = fn.children[1]?.children ?? [];
      const argInfo = ITEM_ARGUMENT_FUNCTIONS.has(name) ? [] : args.map(absent);
      let val: V = 'U';
      if (left.val === 'E') val = ON_EMPTY.get(name) ?? 'U';
      else if (name === 'not' && (left.val === 'T' || left.val === 'F')) val = left.val === 'T' ? 'F' : 'T';
      return merge(val, left, ...argInfo);
    }
    case 'OrExpression':
    case 'AndExpression':
    case 'ImpliesExpression': {
      const a = absent(c[0]);
      const b = absent(c[1]);
      return merge(combine(logicalOp(n)!, a.val, b.val), a, b);
    }
    case 'EqualityExpression':
    case 'InequalityExpression':
    case 'MultiplicativeExpression':
    case 'PolarityExpression':
    case 'IndexerExpression':
    case 'TypeExpression': {
      const parts = c.filter((x: any) => x.type?.endsWith('Expression')).map(absent);
      const equivalence = n.text === '~' || n.text === '!~';
      return merge(!equivalence && parts.some((p: Absent) => p.val === 'E') ? 'E' : 'U', ...parts);
    }
    case 'AdditiveExpression': {
      const parts = c.map(absent);
      return merge(n.text !== '&' && parts.some((p: Absent) => p.val === 'E') ? 'E' : 'U', ...parts);
    }
    case 'MembershipExpression': {
      const parts = c.map(absent);
      const emptySide = n.text === 'in' ? parts[0] : parts[1];
      return merge(emptySide?.val === 'E' ? 'E' : 'U', ...parts);
    }
    case 'UnionExpression':
      return merge('U', ...c.map(absent));
    default:
      return UNKNOWN;
  }
}

function term(t: any): Absent {
  if (!t) return UNKNOWN;
  switch (t.type) {
    case 'ParenthesizedTerm':
      return absent(t.children[0]);
    case 'InvocationTerm': {
      const inv = t.children[0];
      if (inv.type === 'MemberInvocation') {
        const name: string = inv.text ?? inv.children?.[0]?.text;
        // A capitalised name is a type prefix (`Patient.name`), not a property.
        return /^[a-z]/.test(name) ? { val: 'E', roots: new Set([name.replace(/`/g, '')]), local: true } : UNKNOWN;
      }
      return UNKNOWN; // function on the context itself, $this, $index, $total
    }
    case 'LiteralTerm': {
      const lit = t.children[0];
      if (lit.type === 'BooleanLiteral') return { val: lit.text === 'true' ? 'T' : 'F', roots: new Set(), local: true };
      if (lit.type === 'NullLiteral') return { val: 'E', roots: new Set(), local: true };
      return { val: 'U', roots: new Set(), local: true };
    }
    case 'ExternalConstantTerm': {
      const name = t.text ?? t.children?.[0]?.children?.[0]?.text;
      return name === 'ucum' ? { val: 'U', roots: new Set(), local: true } : UNKNOWN;
    }
    default:
      return UNKNOWN;
  }
}
