import { FhirError } from '../../../operation-outcome.js';
import type { SearchParamDef } from '../../params/search-param-registry.js';
import { foldText } from '../../values/text-fold.js';
import { splitUnescaped, unescapeValue } from '../search-values.js';
import type { ConditionContext } from './leaf-conditions.js';
import { dateCondition, numberCondition, quantityCondition } from './range-conditions.js';

/**
 * Composite `a$b[$c]`, e.g. `code-value-quantity=http://loinc.org|8480-6$gt100`. The components were indexed
 * together per node (sp_composite), so both must match in the same observation component, not anywhere.
 */
export function compositeCondition(ctx: ConditionContext, x: string, def: SearchParamDef, raw: string, name: string): string {
  const { sql } = ctx;
  const comps = def.components ?? [];
  const parts = splitUnescaped(raw, '$');
  if (parts.length !== comps.length) throw FhirError.badRequest(`Parameter ${name} takes ${comps.length} components separated by $`);
  const conds: string[] = [tokenPart(ctx, `${x}.a_sys`, `${x}.a_code`, parts[0], name)];
  const b = comps[1];
  switch (b.type) {
    case 'token':
      conds.push(tokenPart(ctx, `${x}.b_sys`, `${x}.b_code`, parts[1], name));
      break;
    case 'string':
      conds.push(`${x}.b_code LIKE ${sql.p(`${foldText(unescapeValue(parts[1])).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`);
      break;
    case 'reference':
    case 'uri':
      conds.push(`${x}.b_code = ${sql.p(unescapeValue(parts[1]))}`);
      break;
    case 'quantity':
      conds.push(quantityCondition(sql, x, parts[1], name, { sys: 'b_sys', code: 'b_code', lo: 'b_lo', hi: 'b_hi' }));
      break;
    case 'number':
      conds.push(numberCondition(sql, `COALESCE(${x}.b_lo, '-Infinity')`, `COALESCE(${x}.b_hi, 'Infinity')`, unescapeValue(parts[1]), name));
      break;
    case 'date':
      conds.push(dateCondition(sql, `${x}.b_dlo`, `${x}.b_dhi`, unescapeValue(parts[1]), name));
      break;
    default:
      throw FhirError.badRequest(`Parameter ${name} cannot be searched`);
  }
  if (comps.length === 3) conds.push(numberCondition(sql, `${x}.c_lo`, `${x}.c_hi`, unescapeValue(parts[2]), name));
  return `(${conds.join(' AND ')})`;
}

function tokenPart(ctx: ConditionContext, sys: string, code: string, raw: string, name: string): string {
  const { sql } = ctx;
  const parts = splitUnescaped(raw, '|').map(unescapeValue);
  if (parts.length === 1) return `${code} = ${sql.p(parts[0])}`;
  if (parts.length !== 2) throw FhirError.badRequest(`Invalid token component '${raw}' for parameter ${name}`);
  if (!parts[0]) return `(${sys} IS NULL AND ${code} = ${sql.p(parts[1])})`;
  if (!parts[1]) return `${sys} = ${sql.p(parts[0])}`;
  return `(${code} = ${sql.p(parts[1])} AND ${sys} = ${sql.p(parts[0])})`;
}
