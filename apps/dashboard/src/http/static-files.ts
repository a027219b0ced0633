import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestExpressApplication } from '@nestjs/platform-express';

interface VendorFile {
  readonly url: string;
  readonly type: string;
  readonly body: Buffer;
}

/**
 * `apps/dashboard/public` of the repository this file is in: found from this module's own path, which is
 * `apps/dashboard/src/http` when run from source (jest) and `dist/dashboard/src/http` after `npm run build`.
 */
export function publicDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let fallback: string | undefined;
  for (let dir = from; dir !== parse(dir).root; dir = dirname(dir)) {
    const candidate = join(dir, 'apps', 'dashboard', 'public');
    if (existsSync(candidate)) return candidate;
    // The page's folder may not exist yet: then the one beside the repository's package.json.
    if (!fallback && existsSync(join(dir, 'package.json'))) fallback = candidate;
  }
  return fallback ?? join(from, '..', '..', 'public');
}

/**
 * The browser libraries, from node_modules (no CDN, no bundler): read once at start, so a missing package fails the
 * start, not the page. Source-map comments are removed (the maps are not served), and Preact's hooks import Preact by
 * a relative URL, so the page works with or without an import map for `preact`.
 */
export function vendorFiles(): VendorFile[] {
  const require = createRequire(import.meta.url);
  const javascript = 'text/javascript; charset=utf-8';
  const read = (path: string) => readFileSync(path, 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
  const hooks = read(require.resolve('preact/hooks'));
  return [
    { url: '/vendor/preact.mjs', type: javascript, body: Buffer.from(read(require.resolve('preact'))) },
    { url: '/vendor/preact-hooks.mjs', type: javascript, body: Buffer.from(hooks.replace(/(from\s*)(["'])preact\2/g, '$1$2./preact.mjs$2')) },
    { url: '/vendor/htm.mjs', type: javascript, body: Buffer.from(read(join(dirname(require.resolve('htm')), 'htm.mjs'))) },
    { url: '/vendor/uPlot.esm.js', type: javascript, body: Buffer.from(read(require.resolve('uplot/dist/uPlot.esm.js'))) },
    { url: '/vendor/uPlot.min.css', type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) },
  ];
}

/** The page's files at `/` and the browser libraries at `/vendor/...`; neither needs the token (they hold no data). */
export function serveStaticFiles(app: NestExpressApplication, publicPath: string = publicDir()): void {
  for (const file of vendorFiles()) {
    app.getHttpAdapter().get(file.url, (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache' }).end(file.body);
    });
  }
  app.useStaticAssets(publicPath, { index: 'index.html' });
}
