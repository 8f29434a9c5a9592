import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { MachbusError } from "../errors.js";
import type { Experiment } from "../experiment/spec.js";
import { RunPool, requirePackage, runFailed } from "./experiment-pool.js";
import type { BatchResult, RunBatch } from "./experiment-thread.js";

/**
 * Experiments beyond one machine, on BullMQ over Redis: `machbus experiment --queue URL`
 * enqueues batches of runs (each job carries the resolved experiment, so a worker needs no
 * files) and gathers their rows as jobs complete; `machbus worker --queue URL`, on any number of
 * hosts, runs jobs on a pool of threads. Rows are computed exactly as locally, so the gathered
 * JSONL is the local run's, byte for byte.
 */

type BullMQ = typeof import("bullmq");
type IORedis = typeof import("ioredis");

/** The queue `machbus experiment --queue` and `machbus worker` use unless --queue-name says otherwise. */
export const DEFAULT_QUEUE_NAME = "machbus";

export interface QueueTarget {
  readonly url: string;
  /** The BullMQ queue name; every party must use the same one. */
  readonly name: string;
  /** How long to wait for Redis before giving up, in ms. */
  readonly timeoutMs: number;
}

/** What a job carries. */
interface JobData extends RunBatch {
  /** The machbus version that enqueued it: a worker of another version refuses it (its rows could differ). */
  readonly machbus: string;
}

const require = createRequire(import.meta.url);
const VERSION = (require("machbus/package.json") as { version: string }).version;

export interface Connection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

/** redis://[user:password@]host[:port][/db] as connection options; anything else is an error naming the URL. */
export function parseRedisUrl(url: string): Connection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MachbusError("queue-unreachable", `--queue ${url}: not a URL (expected redis://host:port)`);
  }
  if (u.protocol !== "redis:")
    throw new MachbusError("queue-unreachable", `--queue ${url}: not a redis:// URL (expected redis://host:port)`);
  const db = u.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) throw new MachbusError("queue-unreachable", `--queue ${url}: '${db}' is not a database number`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
  };
}

/** Waits until Redis at the target answers PING, at most timeoutMs; then one error naming the URL. */
export async function waitForRedis(target: QueueTarget): Promise<Connection> {
  const connection = parseRedisUrl(target.url);
  const { Redis } = await requirePackage<IORedis>("ioredis", "--queue");
  const deadline = performance.now() + target.timeoutMs;
  let last = "no answer";
  for (;;) {
    const left = deadline - performance.now();
    const client = new Redis({
      ...connection,
      lazyConnect: true,
      connectTimeout: Math.max(100, Math.min(2000, left)),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    let reason: string | null = null;
    client.on("error", (e: Error) => (reason ??= e.message));
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return connection;
    } catch (e) {
      last = reason ?? ((e as Error).message || last);
      client.disconnect();
    }
    if (performance.now() + 250 >= deadline) break;
    await sleep(250);
  }
  throw new MachbusError(
    "queue-unreachable",
    `cannot reach Redis at ${target.url} (${last}); gave up after ${(target.timeoutMs / 1000).toFixed(target.timeoutMs % 1000 ? 1 : 0)} s`,
  );
}

export interface QueueRunOptions {
  /** Runs per job. */
  readonly chunk: number;
  readonly onRow: (run: number, line: string) => void;
  readonly stopping: () => boolean;
  /** Told once when the jobs wait and no worker serves the queue (a user who forgot `machbus worker`). */
  readonly onNoWorker?: (text: string) => void;
}

/** How long enqueued jobs may wait with no worker connected before the user is told. */
const NO_WORKER_NOTICE_MS = 5000;

/**
 * Enqueues `runs` in jobs of `chunk` contiguous runs and gathers their rows. Completions come as
 * queue events; every 2 s without one the jobs still open are looked up, so a missed event costs
 * time, never a row. Stopping removes the jobs not started and waits for the started ones.
 */
export async function runOnQueue(
  experiment: Experiment,
  runs: readonly number[],
  target: QueueTarget,
  connection: Connection,
  options: QueueRunOptions,
): Promise<void> {
  const { Queue, QueueEvents } = await requirePackage<BullMQ>("bullmq", "--queue");
  const tag = randomBytes(4).toString("hex");
  const batches = contiguousBatches(runs, options.chunk);
  const open = new Map(batches.map((b) => [`${tag}-${b.start}`, b]));
  const queue = new Queue(target.name, { connection });
  const events = new QueueEvents(target.name, { connection });
  let redisError: string | null = null;
  queue.on("error", (e: Error) => (redisError = e.message));
  events.on("error", (e: Error) => (redisError = e.message));
  let failure: unknown = null;
  let lastNews = performance.now();
  let lastContact = performance.now();
  const complete = (jobId: string, value: unknown): void => {
    const batch = open.get(jobId);
    if (!batch) return;
    open.delete(jobId);
    lastNews = performance.now();
    const result = (typeof value === "string" ? JSON.parse(value) : value) as BatchResult;
    result.lines.forEach((line, i) => options.onRow(batch.start + i, line));
    if (result.error) failure ??= runFailed(experiment, result.error);
  };
  const fail = (jobId: string, reason: string): void => {
    const batch = open.get(jobId);
    if (!batch) return;
    open.delete(jobId);
    failure ??= new MachbusError("experiment-invalid", reason, `runs ${batch.start}-${batch.end - 1} on a worker`);
  };
  try {
    await events.waitUntilReady();
    events.on("completed", ({ jobId, returnvalue }) => complete(jobId, returnvalue));
    events.on("failed", ({ jobId, failedReason }) => fail(jobId, failedReason));
    await queue.addBulk(
      batches.map((b) => ({
        name: "runs",
        data: { machbus: VERSION, experiment, start: b.start, end: b.end } satisfies JobData,
        opts: { jobId: `${tag}-${b.start}`, attempts: 1, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 86_400 } },
      })),
    );
    const enqueued = performance.now();
    let toldNoWorker = false;
    let stopRequested = false;
    let stopDeadline = Infinity;
    while (open.size > 0 && !failure && performance.now() < stopDeadline) {
      await sleep(100);
      if (options.stopping() && !stopRequested) {
        stopRequested = true;
        stopDeadline = performance.now() + 10_000;
        await removeWaiting(queue, [...open.keys()], open);
      }
      if (performance.now() - lastNews < 2000) continue;
      try {
        for (const id of [...open.keys()]) {
          const job = await queue.getJob(id);
          const state = job ? await job.getState() : "unknown";
          if (job && state === "completed") complete(id, job.returnvalue);
          else if (job && state === "failed") fail(id, job.failedReason);
        }
        await queue.getJobCounts("waiting");
        lastContact = lastNews = performance.now();
        if (!toldNoWorker && open.size === batches.length && lastContact - enqueued > NO_WORKER_NOTICE_MS) {
          if ((await queue.getWorkersCount()) === 0) {
            toldNoWorker = true;
            const name = target.name === DEFAULT_QUEUE_NAME ? "" : ` --queue-name ${target.name}`;
            options.onNoWorker?.(
              `no worker serves queue ${target.name} at ${target.url} yet; waiting (start one: machbus worker --queue ${target.url}${name})`,
            );
          }
        }
      } catch (e) {
        redisError = (e as Error).message;
        lastNews = performance.now();
      }
      if (performance.now() - lastContact > target.timeoutMs) {
        throw new MachbusError("queue-unreachable", `lost Redis at ${target.url} (${redisError ?? "no answer"})`);
      }
    }
    if (failure) await removeWaiting(queue, [...open.keys()], open);
    if (failure) throw failure;
  } finally {
    await Promise.allSettled([events.close(), queue.close()]);
  }
}

/** Removes the jobs among `ids` no worker has taken yet, and forgets them. */
async function removeWaiting(queue: JobLookup, ids: string[], open: Map<string, unknown>): Promise<void> {
  for (const id of ids) {
    const job = await queue.getJob(id);
    if (!job) continue;
    const state = await job.getState();
    if (state === "waiting" || state === "prioritized" || state === "delayed") {
      await job.remove().catch(() => {});
      open.delete(id);
    }
  }
}

/** What removeWaiting needs of a Queue. */
interface JobLookup {
  getJob(id: string): Promise<{ getState(): Promise<string>; remove(): Promise<unknown> } | undefined>;
}

/** Splits runs into batches of at most `size` consecutive run numbers. */
function contiguousBatches(runs: readonly number[], size: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const run of runs) {
    const last = out[out.length - 1];
    if (last && last.end === run && last.end - last.start < size) last.end++;
    else out.push({ start: run, end: run + 1 });
  }
  return out;
}

export interface WorkerOptions {
  readonly threads: number;
  /** Resolves when the worker should stop (Ctrl-C). */
  readonly stopped: Promise<void>;
  readonly log: (line: string) => void;
}

/** `machbus worker`: takes jobs from the queue until stopped; finishes the jobs it has begun. */
export async function serveQueue(target: QueueTarget, options: WorkerOptions): Promise<number> {
  const connection = await waitForRedis(target);
  const { Worker } = await requirePackage<BullMQ>("bullmq", "machbus worker");
  const pool = await RunPool.create(options.threads);
  let runsDone = 0;
  const worker = new Worker(
    target.name,
    async (job) => {
      const data = job.data as JobData;
      if (data.machbus !== VERSION) {
        throw new Error(`this worker runs machbus ${VERSION}, the experiment was enqueued by machbus ${data.machbus}`);
      }
      const result = await pool.run({ experiment: data.experiment, start: data.start, end: data.end });
      runsDone += result.lines.length;
      return result;
    },
    { connection: { ...connection, maxRetriesPerRequest: null }, concurrency: options.threads },
  );
  worker.on("error", (e: Error) => options.log(`worker: Redis at ${target.url}: ${e.message}`));
  await worker.waitUntilReady();
  options.log(
    `worker ready: ${target.url}, queue ${target.name}, ${options.threads} thread${options.threads > 1 ? "s" : ""} (Ctrl-C stops)`,
  );
  await options.stopped;
  await worker.close();
  await pool.destroy();
  return runsDone;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
