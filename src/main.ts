import { startHub } from './hub.js';
import { flushLogs } from './modules/logging/logger.js';

async function main(): Promise<void> {
  let hub: Awaited<ReturnType<typeof startHub>> | undefined;
  let stopping = false;
  let deferred: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping || (!hub && deferred)) {
      hub?.log.warn({ signal }, 'second signal: exiting at once');
      flushLogs();
      process.exit(1);
    }
    // a signal while the hub starts (its port may already answer) stops it once started, so that its embedded
    // PostgreSQL is stopped too instead of being left behind
    if (!hub) {
      deferred = signal;
      return;
    }
    stopping = true;
    hub.log.info({ signal }, 'shutting down: finishing requests in flight');
    // order: stop accepting, finish requests, close the pool, stop the embedded PostgreSQL
    const started = hub;
    started.close().then(
      () => {
        started.log.info('hub stopped');
        flushLogs();
        process.exit(0);
      },
      (err) => {
        started.log.error({ err }, 'shutdown failed');
        flushLogs();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  hub = await startHub();
  if (deferred) stop(deferred);
}

main().catch((err) => {
  console.error(JSON.stringify({ level: 60, msg: 'hub failed to start', error: String(err?.stack ?? err) }));
  process.exit(1);
});
