import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHURN_SPEC, expectedJsonl } from "./support/experiments.js";

const BIN = fileURLToPath(new URL("../bin/machbus.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "machbus-queue-"));

/** A port nothing listens on now, on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.end(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

interface Running {
  readonly child: ChildProcess;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function start(command: string, args: string[]): Running {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  const running: Running = { child, stderr: "", exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
  child.stderr!.on("data", (d: Buffer) => (running.stderr += d.toString()));
  child.stdout!.resume();
  return running;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let redis: Running;
let url: string;

beforeAll(async () => {
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  // No persistence: nothing is written, nothing outlives the test.
  redis = start("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]);
  await until("redis-server", () => accepts(port));
});

afterAll(async () => {
  redis.child.kill("SIGTERM");
  await redis.exited;
});

describe("experiments on BullMQ over a real redis-server", () => {
  it("two workers run the experiment the enqueuer gathers into the local run's JSONL, byte for byte", async () => {
    const queue = ["--queue", url, "--queue-name", "machbus-test"];
    const workers = [0, 1].map(() => start(process.execPath, [BIN, "worker", ...queue, "--concurrency", "1"]));
    await until("both workers", () => workers.every((w) => w.stderr.includes("worker ready")));
    const spec = join(dir, "churn.yaml");
    writeFileSync(spec, CHURN_SPEC);
    const out = join(dir, "queued.jsonl");
    const enqueuer = start(process.execPath, [BIN, "experiment", spec, ...queue, "--chunk", "1", "-o", out]);
    expect(await enqueuer.exited).toBe(0);
    expect(enqueuer.stderr).toMatch(new RegExp(`^machbus: 12 runs in .* runs/s on ${url}\\) -> .*queued\\.jsonl\\n`, "m"));
    expect(readFileSync(out, "utf8")).toBe(expectedJsonl(CHURN_SPEC));

    for (const w of workers) w.child.kill("SIGINT");
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    const done = workers.map((w) => Number(/worker stopped after (\d+) runs/.exec(w.stderr)?.[1]));
    expect(done[0]! + done[1]!).toBe(12);
    expect(done.every((n) => n > 0)).toBe(true);
  });

  it("with no worker on the queue the enqueuer says so once and waits; a worker started later serves it", { timeout: 60_000 }, async () => {
    const queue = ["--queue", url, "--queue-name", "machbus-late"];
    const spec = join(dir, "churn-late.yaml");
    writeFileSync(spec, CHURN_SPEC);
    const out = join(dir, "late.jsonl");
    const enqueuer = start(process.execPath, [BIN, "experiment", spec, ...queue, "--chunk", "4", "-o", out]);
    const notice = `machbus: no worker serves queue machbus-late at ${url} yet; waiting (start one: machbus worker ${queue.join(" ")})\n`;
    await until("the no-worker notice", () => enqueuer.stderr.includes(notice));
    const worker = start(process.execPath, [BIN, "worker", ...queue, "--concurrency", "1"]);
    expect(await enqueuer.exited).toBe(0);
    expect(enqueuer.stderr.split(notice)).toHaveLength(2);
    expect(readFileSync(out, "utf8")).toBe(expectedJsonl(CHURN_SPEC));
    worker.child.kill("SIGINT");
    expect(await worker.exited).toBe(0);
  });
});
