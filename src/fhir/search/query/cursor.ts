import { FhirError } from '../../operation-outcome.js';

/**
 * Keyset paging state: the sort-key values and rid of the row the page continues from, and the direction. Opaque
 * to clients (base64url JSON); every value goes back into SQL as a bound parameter.
 */
export interface Cursor {
  dir: 'next' | 'prev';
  keys: string[];
  rid: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.dir === 'next' ? 'n' : 'p', c.rid, ...c.keys])).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  let arr: unknown;
  try {
    if (text.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(text)) throw new Error();
    arr = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw FhirError.badRequest('Invalid _cursor (use the next/previous links as given)');
  }
  if (!Array.isArray(arr) || arr.length < 2 || (arr[0] !== 'n' && arr[0] !== 'p') || !arr.every((x) => typeof x === 'string') || !/^\d{1,19}$/.test(arr[1])) {
    throw FhirError.badRequest('Invalid _cursor (use the next/previous links as given)');
  }
  return { dir: arr[0] === 'n' ? 'next' : 'prev', rid: arr[1], keys: arr.slice(2) };
}
