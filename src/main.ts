import { startHub } from './hub.js';
import { flushLogs } from './modules/logging/logger.js';

async function main(): Promise<void> {
  const hub = await startHub();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      hub.log.warn({ signal }, 'second signal: exiting at once');
      flushLogs();
      process.exit(1);
    }
    stopping = true;
    hub.log.info({ signal }, 'shutting down: finishing requests in flight');
    // order: stop accepting, finish requests, close the pool, stop the embedded PostgreSQL
    hub.close().then(
      () => {
        hub.log.info('hub stopped');
        flushLogs();
        process.exit(0);
      },
      (err) => {
        hub.log.error({ err }, 'shutdown failed');
        flushLogs();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(JSON.stringify({ level: 60, msg: 'hub failed to start', error: String(err?.stack ?? err) }));
  process.exit(1);
});
