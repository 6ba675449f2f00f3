import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import {
  dataMiddleware,
  defaultDiffsDirectory,
  defaultModelDirectory,
  readCatalog,
} from './src/data-server.js';

// The page imports each @diffprune library's browser entry (src/browser.ts where the package has a
// Node part, else src/index.ts), from source: the same files the esbuild check in tools/browser bundles.
const packagesDirectory = fileURLToPath(new URL('../../packages/', import.meta.url));
const alias = readdirSync(packagesDirectory)
  .filter((name) => existsSync(`${packagesDirectory}${name}/src/index.ts`))
  .map((name) => ({
    find: new RegExp(`^@diffprune/${name}$`),
    replacement: existsSync(`${packagesDirectory}${name}/src/browser.ts`)
      ? `${packagesDirectory}${name}/src/browser.ts`
      : `${packagesDirectory}${name}/src/index.ts`,
  }));

function data(): Plugin {
  const modelDirectory = defaultModelDirectory();
  const diffsDirectory = defaultDiffsDirectory();
  const report = (log: (message: string) => void) => {
    for (const problem of readCatalog(modelDirectory, diffsDirectory).problems)
      log(`diffprune web: ${problem}`);
  };
  return {
    name: 'diffprune-data',
    configureServer(server) {
      report((m) => server.config.logger.warn(m));
      server.middlewares.use(dataMiddleware(modelDirectory, diffsDirectory));
    },
    configurePreviewServer(server) {
      report((m) => server.config.logger.warn(m));
      server.middlewares.use(dataMiddleware(modelDirectory, diffsDirectory));
    },
  };
}

export default defineConfig({
  resolve: { alias },
  plugins: [data()],
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
