import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/machbus.js", import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`npm test` builds first) as a user would; `cwd` and extra environment variables optional. */
export function machbus(args: string[], input?: string, options: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const env = options.env ? { ...process.env, ...options.env } : undefined;
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: "utf8", timeout: 60_000, cwd: options.cwd, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
