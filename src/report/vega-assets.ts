// SPDX-License-Identifier: Apache-2.0
// The vega, vega-lite and vega-embed browser builds, read from node_modules so reports inline them and open
// offline from file:// (no CDN). Read once per process.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** package → its minified UMD build, next to the file the package's main export resolves to */
const BUILDS: [pkg: string, file: string][] = [
  ['vega', 'vega.min.js'],
  ['vega-lite', 'vega-lite.min.js'],
  ['vega-embed', 'vega-embed.min.js'],
];

let cached: string[] | undefined;

/** a script body is raw text until "</script": keep the builds from ending their own element */
export function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1');
}

export function vegaScripts(): string[] {
  cached ??= BUILDS.map(([pkg, file]) => {
    const path = join(dirname(require.resolve(pkg)), file);
    try {
      return scriptSafe(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`cannot read ${pkg}'s browser build at ${path} (${(e as Error).message}); run \`npm ci\` to install it`);
    }
  });
  return cached;
}
