/** Longest prefix of a string value that is indexed (btree entries must stay small; see README). */
export const STRING_INDEX_LENGTH = 200;

const ASCII = /^[\x00-\x7f]*$/;
const COMBINING = /[\u0300-\u036f]/g;

/** Case- and accent-folded form used by string search (`Éva` → `eva`). ASCII, by far the common case, skips NFD. */
export function foldText(s: string): string {
  const folded = ASCII.test(s) ? s.toLowerCase() : s.normalize('NFD').replace(COMBINING, '').toLowerCase();
  return folded.length > STRING_INDEX_LENGTH ? folded.slice(0, STRING_INDEX_LENGTH) : folded;
}
