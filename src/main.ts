import { startHub } from './hub.js';

startHub({}, { shutdownHooks: true }).catch((err) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 'hub failed to start', error: String(err?.stack ?? err) }));
  process.exit(1);
});
