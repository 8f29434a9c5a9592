import { build } from "esbuild";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";

/** What a browser app that imports one entry point of the package ships. */
export interface BundleSize {
  /** The import specifier: "machbus", "machbus/config", ... */
  readonly entry: string;
  readonly minifiedBytes: number;
  /** gzip -9 of the minified bundle. */
  readonly gzipBytes: number;
  /** npm packages in the bundle. */
  readonly packages: readonly string[];
}

// Entry points resolve as a user's `import` does: by package name, through package.json "exports".
const require = createRequire(import.meta.url);

/** Every entry point package.json exports (its JavaScript ones), as import specifiers. */
export function packageEntries(): string[] {
  const pkg = require("machbus/package.json") as { exports: Record<string, unknown> };
  return Object.keys(pkg.exports)
    .filter((key) => !key.endsWith(".json"))
    .map((key) => (key === "." ? "machbus" : `machbus/${key.slice(2)}`));
}

/**
 * Bundles one entry point of the built package (dist/, so decorator metadata is tsc's) for the
 * browser, as an app's bundler would: esbuild, ESM, minified. A Node-only import fails the build.
 */
export async function bundleSize(entry: string): Promise<BundleSize> {
  const result = await build({
    entryPoints: [require.resolve(entry)],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.contents;
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]!);
  }
  return { entry, minifiedBytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, packages: [...packages].sort() };
}
