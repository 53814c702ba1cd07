// bench/MPI-RESULTS.md holds two sections, one per script (accuracy.js, speed.js); each run replaces its own.
import fs from 'node:fs';

const HEADER = '# Master patient index: benchmark results\n\nWritten by `bench/mpi/accuracy.js` and `bench/mpi/speed.js` (each replaces its own section).\n';

export function writeSection(file, name, markdown) {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : HEADER;
  const start = `<!-- ${name} -->`;
  const end = `<!-- /${name} -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, text);
}
