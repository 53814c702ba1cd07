import { readFileSync } from 'node:fs';
import { ACT_CODE_SYSTEM, DEFAULT_SENSITIVE_CODES, type SensitiveCodeList } from './sensitive-codes.js';

interface Compiled {
  label: string;
  display: string;
  codes: Set<string>;
  prefixes: string[];
}

/** ICD codes are compared without their dot (F32.9 ≡ F329), others as given. */
const norm = (code: string) => code.replace(/\./g, '').toUpperCase();

/**
 * Adds sensitivity labels (v3 ActCode PSY, ETH, HIV, SEX, SDV) to `meta.security` of resources that carry a code from
 * a sensitive code list. Labels are only added, never removed: a label set by a client or an earlier rule stays.
 */
export class SensitivityLabeler {
  private readonly bySystem = new Map<string, Compiled[]>();

  constructor(lists: SensitiveCodeList[] = DEFAULT_SENSITIVE_CODES) {
    for (const list of lists) {
      for (const m of list.match) {
        const entry: Compiled = { label: list.label, display: list.display, codes: new Set((m.codes ?? []).map(norm)), prefixes: (m.prefixes ?? []).map(norm) };
        this.bySystem.set(m.system, [...(this.bySystem.get(m.system) ?? []), entry]);
      }
    }
  }

  static fromFile(path: string | undefined): SensitivityLabeler {
    if (!path) return new SensitivityLabeler();
    const lists = JSON.parse(readFileSync(path, 'utf8'));
    if (!Array.isArray(lists) || lists.some((l) => typeof l?.label !== 'string' || !Array.isArray(l.match))) {
      throw new Error(`${path}: expected a JSON array of { label, display, match: [{ system, codes?, prefixes? }] }`);
    }
    return new SensitivityLabeler(lists);
  }

  /** The labels the resource's codes call for. */
  labelsFor(resource: any): Map<string, string> {
    const found = new Map<string, string>();
    const visit = (node: any, key?: string) => {
      if (!node || typeof node !== 'object' || key === 'meta' || key === 'text') return;
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (typeof node.system === 'string' && typeof node.code === 'string') {
        const code = norm(node.code);
        for (const c of this.bySystem.get(node.system) ?? []) {
          if (c.codes.has(code) || c.prefixes.some((p) => code.startsWith(p))) found.set(c.label, c.display);
        }
      }
      // (for…in, not Object.entries: this walks every element of every resource written)
      for (const k in node) {
        const v = node[k];
        if (v && typeof v === 'object') visit(v, k);
      }
    };
    if (resource && typeof resource === 'object') for (const k in resource) visit(resource[k], k);
    return found;
  }

  /** Adds the missing labels to `resource.meta.security` (in place). */
  label(resource: any): void {
    const labels = this.labelsFor(resource);
    if (!labels.size) return;
    const meta = (resource.meta ??= {});
    const security: any[] = (meta.security ??= []);
    for (const [code, display] of labels) {
      if (!security.some((s) => s?.system === ACT_CODE_SYSTEM && s?.code === code)) security.push({ system: ACT_CODE_SYSTEM, code, display });
    }
  }
}
