import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { packageEntries } from "../bench/bundle.js";

const ROOT = new URL("..", import.meta.url);
/** Inside the package (so `import ... from "machbus"` resolves by name, as in a user's project) and ignored by git. */
const DIR = new URL("dist/doc-samples/", ROOT);
const DOCS = ["README.md", ...readdirSync(new URL("docs/", ROOT)).map((f) => `docs/${f}`)].filter((f) => f.endsWith(".md"));

interface Sample {
  readonly name: string;
  readonly where: string;
  readonly code: string;
  /** False for a block fenced "```ts no-run": it starts something that runs until stopped (an emulator). */
  readonly runs: boolean;
}

/** Every TypeScript block of the README and docs/, each a module of its own. */
function samples(): Sample[] {
  const out: Sample[] = [];
  for (const doc of DOCS) {
    const lines = readFileSync(new URL(doc, ROOT), "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```ts( no-run)?$/.exec(lines[i]!);
      if (!fence) continue;
      const end = lines.indexOf("```", i + 1);
      const name = `${doc.replace(/\W+/g, "-")}-${i + 1}`;
      out.push({ name, where: `${doc}:${i + 1}`, code: lines.slice(i + 1, end).join("\n") + "\n", runs: !fence[1] });
      i = end;
    }
  }
  return out;
}

const SAMPLES = samples();

describe("code samples in the README and docs/", () => {
  it("there are samples for every entry point package.json exports", () => {
    const imported = new Set(SAMPLES.flatMap((s) => [...s.code.matchAll(/from "(machbus[^"]*)"/g)].map((m) => m[1])));
    expect([...imported].sort()).toEqual(packageEntries().sort());
  });

  it("type-check against the built package, imported by its name, and the runnable ones run without an error", () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    for (const s of SAMPLES) writeFileSync(new URL(`${s.name}.ts`, DIR), s.code);
    // The project's compiler settings; samples may leave a value unused (`const snapshot = m.save()`).
    const tsconfig = {
      extends: "../../tsconfig.json",
      compilerOptions: { noEmit: false, rootDir: ".", outDir: "out", noUnusedLocals: false, declaration: false, sourceMap: false },
      include: ["*.ts"],
    };
    writeFileSync(new URL("tsconfig.json", DIR), JSON.stringify(tsconfig));
    const tsc = fileURLToPath(new URL("node_modules/typescript/bin/tsc", ROOT));
    const compiled = spawnSync(process.execPath, [tsc, "-p", fileURLToPath(DIR)], { encoding: "utf8", timeout: 120_000 });
    expect(compiled.stdout + compiled.stderr).toBe("");
    for (const s of SAMPLES.filter((x) => x.runs)) {
      const r = spawnSync(process.execPath, [fileURLToPath(new URL(`out/${s.name}.js`, DIR))], { encoding: "utf8", timeout: 60_000 });
      expect({ sample: s.where, status: r.status, stderr: r.stderr }).toEqual({ sample: s.where, status: 0, stderr: "" });
    }
  });
});
