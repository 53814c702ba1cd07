import { createRequire } from 'node:module';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  // swc keeps decorator metadata, which Nest's dependency injection needs
  plugins: [swc.vite({ module: { type: 'es6' } })],
  // graphql ships index.mjs and index.js; Node (and so @apollo/server) loads index.js, Vite would pick index.mjs:
  // two copies of graphql-js cannot share a schema, so the hub's code gets the one Node loads
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
