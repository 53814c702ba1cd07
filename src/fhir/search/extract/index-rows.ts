/** `IndexRows.patient` of a resource whose `patient` parameter points to more than one Patient (not an id). */
export const MANY_PATIENTS = '*';

/**
 * Search index rows, column by column (the shape `unnest($1::int[], $2::text[], ...)` takes), so the rows for every
 * table go to PostgreSQL in a single statement: one resource's, or — `begin()` before each — those of many resources
 * written together (a transaction Bundle's creates), each resource's rows after the previous one's.
 */
export class IndexRows {
  readonly token = { pid: [] as number[], sys: [] as (string | null)[], code: [] as (string | null)[], txt: [] as (string | null)[] };
  readonly string = { pid: [] as number[], norm: [] as string[], exact: [] as string[] };
  readonly date = { pid: [] as number[], lo: [] as string[], hi: [] as string[] };
  readonly number = { pid: [] as number[], lo: [] as string[], hi: [] as string[] };
  readonly quantity = {
    pid: [] as number[],
    sys: [] as (string | null)[],
    code: [] as (string | null)[],
    lo: [] as (string | null)[],
    hi: [] as (string | null)[],
    ccode: [] as (string | null)[],
    clo: [] as (string | null)[],
    chi: [] as (string | null)[],
  };
  readonly reference = {
    pid: [] as number[],
    rtype: [] as (string | null)[],
    tid: [] as (string | null)[],
    ver: [] as (string | null)[],
    url: [] as (string | null)[],
    idsys: [] as (string | null)[],
    idval: [] as (string | null)[],
  };
  readonly uri = { pid: [] as number[], uri: [] as string[] };
  readonly composite = {
    pid: [] as number[],
    a_sys: [] as (string | null)[],
    a_code: [] as (string | null)[],
    b_sys: [] as (string | null)[],
    b_code: [] as (string | null)[],
    b_lo: [] as (string | null)[],
    b_hi: [] as (string | null)[],
    b_dlo: [] as (string | null)[],
    b_dhi: [] as (string | null)[],
    c_lo: [] as (string | null)[],
    c_hi: [] as (string | null)[],
  };
  /** strings of the whole resource (`_content`) and of its narrative (`_text`), for PostgreSQL full-text search */
  content = '';
  narrative = '';
  /**
   * The Patient the resource's `patient` parameter points to, for the `prid` of its token rows (see
   * `patientLink`): that Patient's id, `MANY_PATIENTS` when it points to several, null when to none.
   */
  patient: string | null = null;

  /** Rows of the current resource already added, to keep repeated values (same code in two places) from bloating the index. */
  private readonly seen = new Set<string>();
  /** where the current resource's reference rows start, and how many rows the earlier resources have */
  private referenceStart = 0;
  private earlierRows = 0;

  /** Starts the rows of the next resource: what follows is its rows, content, narrative and patient. */
  begin(): void {
    this.seen.clear();
    this.referenceStart = this.reference.pid.length;
    this.earlierRows = this.tableRows();
    this.content = '';
    this.narrative = '';
    this.patient = null;
  }

  addToken(pid: number, sys: string | null | undefined, code: string | null | undefined, txt: string | null | undefined): void {
    const key = `t${pid}\u0001${sys ?? ''}\u0001${code ?? ''}\u0001${txt ?? ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const t = this.token;
    t.pid.push(pid);
    t.sys.push(sys ?? null);
    t.code.push(code ?? null);
    t.txt.push(txt ?? null);
  }

  addString(pid: number, norm: string, exact: string): void {
    const key = `s${pid}\u0001${exact}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.string.pid.push(pid);
    this.string.norm.push(norm);
    this.string.exact.push(exact);
  }

  addDate(pid: number, lo: string, hi: string): void {
    const key = `d${pid}\u0001${lo}\u0001${hi}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.date.pid.push(pid);
    this.date.lo.push(lo);
    this.date.hi.push(hi);
  }

  addNumber(pid: number, lo: string, hi: string): void {
    this.number.pid.push(pid);
    this.number.lo.push(lo);
    this.number.hi.push(hi);
  }

  addQuantity(pid: number, sys: string | null, code: string | null, lo: string | null, hi: string | null, canon?: { code: string; lo: string | null; hi: string | null }): void {
    const q = this.quantity;
    q.pid.push(pid);
    q.sys.push(sys);
    q.code.push(code);
    q.lo.push(lo);
    q.hi.push(hi);
    q.ccode.push(canon?.code ?? null);
    q.clo.push(canon?.lo ?? null);
    q.chi.push(canon?.hi ?? null);
  }

  addReference(pid: number, rtype: string | null, tid: string | null, ver: string | null, url: string | null, idsys: string | null, idval: string | null): void {
    const key = `r${pid}\u0001${rtype}\u0001${tid}\u0001${ver}\u0001${url}\u0001${idsys}\u0001${idval}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const r = this.reference;
    r.pid.push(pid);
    r.rtype.push(rtype);
    r.tid.push(tid);
    r.ver.push(ver);
    r.url.push(url);
    r.idsys.push(idsys);
    r.idval.push(idval);
  }

  addUri(pid: number, uri: string): void {
    const key = `u${pid}\u0001${uri}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.uri.pid.push(pid);
    this.uri.uri.push(uri);
  }

  addComposite(pid: number, a: CompositePart, b: CompositePart, c?: CompositePart): void {
    const k = this.composite;
    k.pid.push(pid);
    k.a_sys.push(a.sys ?? null);
    k.a_code.push(a.code ?? null);
    k.b_sys.push(b.sys ?? null);
    k.b_code.push(b.code ?? null);
    k.b_lo.push(b.lo ?? null);
    k.b_hi.push(b.hi ?? null);
    k.b_dlo.push(b.dlo ?? null);
    k.b_dhi.push(b.dhi ?? null);
    k.c_lo.push(c?.lo ?? null);
    k.c_hi.push(c?.hi ?? null);
  }

  /**
   * Sets `patient` from the reference rows of parameter `pid` (the type's `patient` parameter) that point to a
   * Patient by id — exactly the rows a `_has:Type:patient:…` joins on.
   */
  linkPatient(pid: number | undefined): void {
    this.patient = null;
    if (pid === undefined) return;
    const r = this.reference;
    for (let i = this.referenceStart; i < r.pid.length; i++) {
      if (r.pid[i] !== pid || r.rtype[i] !== 'Patient' || !r.tid[i]) continue;
      if (this.patient === null) this.patient = r.tid[i];
      else if (this.patient !== r.tid[i]) {
        this.patient = MANY_PATIENTS;
        return;
      }
    }
  }

  /** Number of rows of the current resource (the text row included), for the statistics. */
  get size(): number {
    return this.tableRows() - this.earlierRows + (this.content ? 1 : 0);
  }

  private tableRows(): number {
    return (
      this.token.pid.length +
      this.string.pid.length +
      this.date.pid.length +
      this.number.pid.length +
      this.quantity.pid.length +
      this.reference.pid.length +
      this.uri.pid.length +
      this.composite.pid.length
    );
  }
}

/** One component value of a composite: a token (sys, code), a quantity/number range (lo, hi; sys, code = unit), a date range. */
export interface CompositePart {
  sys?: string | null;
  code?: string | null;
  lo?: string | null;
  hi?: string | null;
  dlo?: string | null;
  dhi?: string | null;
}
