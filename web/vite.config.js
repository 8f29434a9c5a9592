// Vite builds the page in web/ into dist/web. The page imports the package's own entry points
// ("machbus", "machbus/config", ...): they resolve through package.json "exports" to the compiled
// engine in dist/, as they would for any user of the package, so `npm run build` comes first.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
const entries = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === "object" && target.default)
  .map(([key, target]) => ({
    find: new RegExp(`^${(pkg.name + key.slice(1)).replace(/[/.]/g, "\\$&")}$`),
    replacement: `${root}${target.default}`,
  }));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: { alias: entries },
  build: { outDir: `${root}dist/web`, emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 1024 },
  logLevel: "warn",
});
