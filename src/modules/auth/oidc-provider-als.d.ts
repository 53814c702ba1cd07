/** oidc-provider's per-request context store (lib/helpers/als.js: `export default new AsyncLocalStorage()`). */
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';
  const als: AsyncLocalStorage<unknown>;
  export default als;
}
