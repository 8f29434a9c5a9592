import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DOMParser, type Element } from "@xmldom/xmldom";
import { describe, expect, it } from "vitest";
import { formatRow, parseExperimentSpec, resolveExperiment, runOne } from "../src/experiment/index.js";
import { machbus } from "./support/cli.js";
import { CHURN_SPEC, expectedJsonl } from "./support/experiments.js";

const BIN = fileURLToPath(new URL("../bin/machbus.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "machbus-experiment-"));
const file = (name: string, text?: string): string => {
  const path = join(dir, name);
  if (text !== undefined) writeFileSync(path, text);
  return path;
};
const read = (path: string): string => readFileSync(path, "utf8");

const SPEC = CHURN_SPEC;
const spec = file("churn.yaml", SPEC);
const expected = expectedJsonl(SPEC);

describe("machbus experiment", () => {
  it("1 worker and 2 workers write the same JSONL, byte for byte, and so do shards 1/2 and 2/2 put together", () => {
    const one = machbus(["experiment", spec, "-o", file("one.jsonl"), "--workers", "1"]);
    expect(one.stderr).toMatch(/^machbus: 12 runs in .* \(.* runs\/s on 1 worker\) -> .*one\.jsonl\n$/m);
    expect(one.status).toBe(0);
    expect(machbus(["experiment", spec, "-o", file("two.jsonl"), "--workers", "2", "--progress", "none"]).stderr).toBe("");
    expect(read(file("one.jsonl"))).toBe(expected);
    expect(read(file("two.jsonl"))).toBe(expected);
    const shards = ["1/2", "2/2"].map((s) => machbus(["experiment", spec, "--shard", s, "--progress", "none"]).stdout);
    expect(shards.join("")).toBe(expected);
    expect(shards[0]!.split("\n")).toHaveLength(7);
  });

  it("Ctrl-C stops cleanly: exit 130, every finished row kept in run order, and --resume does the rest", async () => {
    const long = file("long.yaml", SPEC.replace("seeds: 4", "seeds: 400"));
    const out = file("interrupted.jsonl");
    const child = spawn(process.execPath, [BIN, "experiment", long, "-o", out, "--workers", "1", "--progress", "lines"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!(existsSync(out) && read(out).split("\n").length > 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    const kept = read(out).trim().split("\n");
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(1200);
    const e = resolveExperiment(parseExperimentSpec(read(long), "long.yaml"));
    const runs = kept.map((line) => (JSON.parse(line) as { run: number }).run);
    expect(runs).toEqual([...runs].sort((a, b) => a - b));
    for (const [i, line] of kept.entries()) expect(line).toBe(formatRow(runOne(e, runs[i]!)));
    expect(stderr.trim().split("\n").at(-1)).toBe(
      `machbus: interrupted: ${kept.length} of 1200 runs finished, kept in ${out} (--resume does the rest)`,
    );
  });

  it("--resume keeps the rows a file has, whatever their order, runs the missing ones and writes them all in order", () => {
    const lines = expected.trim().split("\n");
    const partial = file("partial.jsonl", [lines[7], lines[0], lines[3]].join("\n") + "\n");
    const r = machbus(["experiment", spec, "-o", partial, "--resume", "--progress", "lines"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^machbus: 9 runs in /m);
    expect(read(partial)).toBe(expected);
    const foreign = file("foreign.jsonl", lines[0]!.replace('"policy":"qemu"', '"policy":"auto-bridge"') + "\n");
    expect(machbus(["experiment", spec, "-o", foreign, "--resume"]).stderr).toMatch(
      /^machbus: .*foreign\.jsonl:1: run 0 is qemu with seed 0 in this experiment, not in the file \(another experiment's results\?\)\n$/,
    );
  });

  it("shows a progress bar with rate and ETA on a terminal, and quiet lines elsewhere", () => {
    const tty = spawnSync(
      "script",
      ["-qec", `'${process.execPath}' '${BIN}' experiment '${spec}' -o '${file("tty.jsonl")}' --workers 1`, "/dev/null"],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(tty.status).toBe(0);
    const esc = String.fromCharCode(27);
    const screen = tty.stdout.replace(new RegExp(`${esc}\\[[0-9;?]*[A-Za-z]|${esc}[78]`, "g"), "");
    expect(screen).toContain("\u2588".repeat(40));
    expect(screen).toMatch(/churn in the tests [\u2588\u2591]{40} 100% \| 12\/12 runs \| \d+\.\d runs\/s \| ETA /);
    expect(read(file("tty.jsonl"))).toBe(expected);
    const lines = machbus(["experiment", spec, "--progress", "lines"]).stderr.trim().split("\n");
    expect(lines.length).toBeLessThanOrEqual(11);
    expect(lines[0]).toMatch(/^machbus: churn in the tests: \d+\/12 runs \(\d+%\), \d+\.\d runs\/s, ETA /);
  });

  it("a malformed spec or option is one line naming what is wrong, exit 1, and nothing is written", () => {
    const cases: [string, RegExp][] = [
      [
        "experiment: 1\npolicies: [qemu]\nworkload: { type: churn, operatons: 3 }\n",
        /^machbus: .*bad\.yaml:3: workload: unknown key 'operatons'\n$/,
      ],
      [
        "experiment: 1\npolicies: [qemu, nosuch]\nworkload: { type: churn }\n",
        /^machbus: .*bad\.yaml:2: policies\[1\]: unknown allocation policy 'nosuch' \(policies: .*\)\n$/,
      ],
      [
        "experiment: 1\npolicies: [qemu]\nseeds: -3\nworkload: { type: churn }\n",
        /^machbus: .*bad\.yaml:3: seeds: must be a whole number >= 1\n$/,
      ],
    ];
    for (const [text, message] of cases) {
      const r = machbus(["experiment", file("bad.yaml", text), "-o", file("never.jsonl")]);
      expect(r.stderr).toMatch(message);
      expect(r.status).toBe(1);
    }
    expect(existsSync(file("never.jsonl"))).toBe(false);
    expect(machbus(["experiment", spec, "--shard", "3/2"]).stderr).toBe("machbus: --shard 3/2: expected i/n with 1 <= i <= n, e.g. 2/8\n");
    expect(machbus(["experiment", file("missing.yaml")]).stderr).toMatch(
      /^machbus: experiment spec .*missing\.yaml: no such file or directory\n$/,
    );
  });

  it("replay reads its command lines from a file beside the spec; a bad line is named by its file and line", () => {
    const replay = file("replay.yaml", "experiment: 1\npolicies: [qemu, explicit-first]\nworkload: { type: replay, file: lines.txt }\n");
    file("lines.txt", "# two machines\n-device e1000 -device rtl8139,addr=2\n\n-M pc-i440fx-2.0 -device virtio-net-pci\n");
    const rows = machbus(["experiment", replay, "--progress", "none"])
      .stdout.trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.policy, r.command, r.machine, r.refused])).toEqual([
      ["qemu", 0, "pc-qemu-7.2", 1],
      ["qemu", 1, "pc-qemu-2.0", 0],
      ["explicit-first", 0, "pc-qemu-7.2", 0],
      ["explicit-first", 1, "pc-qemu-2.0", 0],
    ]);
    file("lines.txt", "-device e1000\n\n-device e1000 --cpu max\n");
    expect(machbus(["experiment", replay]).stderr).toMatch(
      /^machbus: .*lines\.txt:3: unknown option '--cpu' \(a replayed command line takes .*\)\n$/,
    );
  });

  it("an unreachable Redis is one line naming the URL, after a bounded wait", () => {
    const t0 = Date.now();
    const r = machbus(["experiment", spec, "--queue", "redis://127.0.0.1:1", "--queue-timeout", "1.5", "-o", file("unreached.jsonl")]);
    expect(r.stderr).toBe("machbus: cannot reach Redis at redis://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); gave up after 1.5 s\n");
    expect(r.status).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(existsSync(file("unreached.jsonl"))).toBe(false);
    expect(machbus(["worker", "--queue", "redis://127.0.0.1:1", "--queue-timeout", "1"]).stderr).toBe(
      "machbus: cannot reach Redis at redis://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); gave up after 1 s\n",
    );
  });
});

describe("machbus plot and report", () => {
  const results = file("results.jsonl", expected);

  it("plot writes an SVG with two axes and one line per policy, named in the legend", () => {
    const r = machbus(["plot", results, "--x", "ops", "--y", "restartMoved", "--by", "policy", "-o", file("chart.svg")]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const errors: string[] = [];
    const doc = new DOMParser({ onError: (level, message) => void (level !== "warning" && errors.push(message)) }).parseFromString(
      read(file("chart.svg")),
      "image/svg+xml",
    );
    expect(errors).toEqual([]);
    const svg = doc.documentElement!;
    expect(svg.tagName).toBe("svg");
    const groups = [...(svg.getElementsByTagName("g") as unknown as Iterable<Element>)];
    const cls = (g: Element): string => g.getAttribute("class") ?? "";
    const axes = groups.filter((g) => cls(g).includes("role-axis") && g.getAttribute("aria-label"));
    expect(axes.map((a) => a.getAttribute("aria-label")!.replace(/ with .*/, ""))).toEqual([
      "X-axis titled 'ops' for a linear scale",
      "Y-axis titled 'mean of restartMoved' for a linear scale",
    ]);
    const series = groups
      .filter((g) => cls(g).includes("mark-line") && cls(g).includes("role-mark"))
      .flatMap((g) => [...(g.getElementsByTagName("path") as unknown as Iterable<Element>)]);
    expect(series.map((p) => /policy: (.*)$/.exec(p.getAttribute("aria-label")!)?.[1])).toEqual(["qemu", "append-only", "explicit-first"]);
    expect(new Set(series.map((p) => p.getAttribute("stroke"))).size).toBe(3);
    const legend = groups.find((g) => cls(g).includes("role-legend"))!;
    const labels = [...(legend.getElementsByTagName("text") as unknown as Iterable<Element>)].map((t) => t.textContent);
    expect(labels).toEqual(["qemu", "append-only", "explicit-first", "policy"]); // entries, then the title
  });

  it("plot refuses a field the results do not have, naming it and the fields there are", () => {
    const r = machbus(["plot", results, "--x", "opps", "--y", "restartMoved"]);
    expect(r.stderr).toMatch(
      /^machbus: --x opps: no field 'opps' in .*results\.jsonl \(fields: run, machine, policy, workload, seed, ops, .*\)\n$/,
    );
    expect(r.status).toBe(1);
  });

  it("report prints runs, mean, median and p95 of each metric per policy", () => {
    const r = machbus(["report", results, "--metrics", "restartMoved,refused"]);
    expect(r.status).toBe(0);
    const table = r.stdout.trim().split("\n");
    expect(table[0]).toMatch(/^policy +metric +runs +mean +median +p95 +min +max$/);
    expect(table.slice(1).map((l) => l.split(/ +/).slice(0, 3))).toEqual([
      ["qemu", "restartMoved", "4"],
      ["qemu", "refused", "4"],
      ["append-only", "restartMoved", expect.any(String)],
      ["append-only", "refused", "4"],
      ["explicit-first", "restartMoved", "4"],
      ["explicit-first", "refused", "4"],
    ]);
    const rows = expected
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { policy: string; refused: number });
    const mean = rows.filter((x) => x.policy === "qemu").reduce((s, x) => s + x.refused, 0) / 4;
    expect(Number(table[2]!.split(/ +/)[3])).toBeCloseTo(mean, 3);
  });
});
