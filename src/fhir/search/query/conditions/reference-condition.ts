import { FhirError } from '../../../operation-outcome.js';
import type { SearchParamDef } from '../../params/search-param-registry.js';
import { parseReference } from '../../values/reference.js';
import { splitUnescaped, unescapeValue } from '../search-values.js';
import type { ConditionContext } from './leaf-conditions.js';

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * One reference value: `id`, `Type/id`, `Type/id/_history/v`, an absolute URL (local when it starts with this
 * server's base), a canonical `url|version`; `:Type` restricts the target type, `:identifier` matches
 * Reference.identifier (`system|value`), `:below`/`:above` match canonical URLs by path.
 */
export function referenceCondition(ctx: ConditionContext, x: string, def: SearchParamDef, modifier: string | undefined, raw: string, name: string): string {
  const { sql } = ctx;
  if (modifier === 'identifier') {
    const parts = splitUnescaped(raw, '|').map(unescapeValue);
    if (parts.length > 2) throw FhirError.badRequest(`:identifier takes [system|]value (parameter ${name})`);
    if (parts.length === 1) return `${x}.idval = ${sql.p(parts[0])}`;
    const conds = [`${x}.idval = ${sql.p(parts[1])}`];
    conds.push(parts[0] ? `${x}.idsys = ${sql.p(parts[0])}` : `${x}.idsys IS NULL`);
    return `(${conds.join(' AND ')})`;
  }
  let v = unescapeValue(raw);
  if (!v) throw FhirError.badRequest(`Empty reference for parameter ${name}`);
  const base = ctx.baseUrl.replace(/\/$/, '');
  if (base && v.startsWith(`${base}/`)) v = v.slice(base.length + 1);
  const typeModifier = modifier && /^[A-Z]/.test(modifier) ? modifier : undefined;
  if (typeModifier && def.targets.length && !def.targets.includes(typeModifier) && !def.targets.includes('Resource')) {
    throw FhirError.badRequest(`Parameter ${name} does not reference ${typeModifier} (targets: ${def.targets.join(', ')})`);
  }
  if (modifier === 'below' || modifier === 'above') {
    const url = v.split('|')[0];
    if (modifier === 'below') return `${x}.url LIKE ${sql.p(`${url.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`;
    const prefixes: string[] = [];
    for (let s = url; s.includes('/'); s = s.slice(0, s.lastIndexOf('/'))) prefixes.push(s);
    return `${x}.url = ANY(${sql.p(prefixes.length ? prefixes : [url], 'text[]')})`;
  }
  if (ID_RE.test(v)) {
    const conds = [`${x}.tid = ${sql.p(v)}`];
    if (typeModifier) conds.push(`${x}.rtype = ${sql.p(typeModifier)}`);
    return `(${conds.join(' AND ')})`;
  }
  const local = parseReference(v);
  if (local && !local.absolute) {
    if (typeModifier && typeModifier !== local.type) return 'false';
    const conds = [`${x}.tid = ${sql.p(local.id)}`, `${x}.rtype = ${sql.p(local.type)}`];
    if (local.version) conds.push(`${x}.ver = ${sql.p(local.version)}`);
    return `(${conds.join(' AND ')})`;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) {
    // absolute URL or canonical (url|version)
    const bar = v.indexOf('|');
    if (bar >= 0) return `(${x}.url = ${sql.p(v.slice(0, bar))} AND ${x}.ver = ${sql.p(v.slice(bar + 1))})`;
    return `${x}.url = ${sql.p(v)}`;
  }
  throw FhirError.badRequest(`Invalid reference '${v}' for parameter ${name} (expected id, Type/id or an absolute URL)`);
}
