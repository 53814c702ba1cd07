// Preloaded into the hub by `bench/run.js --profile` (node --import <this file> dist/main.js).
//
// Why not `node --cpu-prof`: that flag writes its profile only when the process exits normally, but Nest's shutdown
// hook re-raises SIGTERM after closing (process.kill(process.pid, signal)), so the profile is never written; and one
// profile for the whole life of the hub would mix start-up, ingest, read and create. Instead this file starts and
// stops the V8 sampling profiler (in-process inspector session) on SIGUSR2, one profile per benchmark phase:
//
//   1st SIGUSR2: read the label from $BENCH_PROFILE_DIR/label, start profiling, write $BENCH_PROFILE_DIR/state = "started <label>"
//   2nd SIGUSR2: stop, write $BENCH_PROFILE_DIR/<label>.cpuprofile (Chrome DevTools format), state = "written <label>"
//
// With BENCH_PROFILE_KIND=allocations it records where memory is allocated instead (<label>.heapprofile, freed objects
// included: what the garbage collector has to deal with), summarised by `node bench/profile-summary.js`.
//
// SIGUSR1 is the inspector's own signal, SIGUSR2 is free; nothing here is loaded unless --profile is given.
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  const state = (s) => fs.writeFileSync(path.join(dir, 'state'), s);
  const intervalUs = Number(process.env.BENCH_PROFILE_INTERVAL_US || 1000);
  // BENCH_PROFILE_KIND=allocations: a sampling allocation profile (.heapprofile) instead of a CPU profile
  const allocations = process.env.BENCH_PROFILE_KIND === 'allocations';
  let label;
  let busy = Promise.resolve();
  process.on('SIGUSR2', () => {
    busy = busy
      .then(async () => {
        if (label === undefined) {
          label = fs.readFileSync(path.join(dir, 'label'), 'utf8').trim() || 'profile';
          if (allocations) {
            // every allocation sampled, also of objects the GC has freed since: where the garbage comes from
            await post('HeapProfiler.enable');
            await post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
          } else {
            await post('Profiler.enable');
            await post('Profiler.setSamplingInterval', { interval: intervalUs });
            await post('Profiler.start');
          }
          state(`started ${label}`);
        } else {
          const { profile } = await post(allocations ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
          const file = path.join(dir, `${label}.${allocations ? 'heapprofile' : 'cpuprofile'}`);
          fs.writeFileSync(file + '.tmp', JSON.stringify(profile));
          fs.renameSync(file + '.tmp', file);
          state(`written ${label}`);
          label = undefined;
        }
      })
      .catch((err) => state(`error ${String(err?.stack ?? err)}`));
  });
}
