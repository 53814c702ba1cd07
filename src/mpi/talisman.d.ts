// talisman ships CommonJS without type declarations; these are the few functions the MPI uses.
declare module 'talisman/metrics/jaro-winkler.js' {
  const jaroWinkler: (a: string, b: string) => number;
  export default jaroWinkler;
}
declare module 'talisman/metrics/damerau-levenshtein.js' {
  const damerauLevenshtein: (a: string, b: string) => number;
  export default damerauLevenshtein;
}
declare module 'talisman/phonetics/nysiis.js' {
  const nysiis: (name: string) => string;
  export default nysiis;
}
declare module 'talisman/phonetics/double-metaphone.js' {
  const doubleMetaphone: (name: string) => [string, string];
  export default doubleMetaphone;
}
