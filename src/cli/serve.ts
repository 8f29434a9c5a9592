import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { MachbusError } from "../index.js";
import { buildMachine, machineOptions, type MachineCliOptions } from "./machine-options.js";

/** The package root, from dist/src/cli/serve.js. */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Where `npm run build:web` (Vite, web/vite.config.js) writes the page. */
export const WEB_DIR = join(ROOT, "dist", "web");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

export interface ServeCliOptions extends MachineCliOptions {
  port: string;
}

/** What the page fetches as ./machine.json: the command line's machine, which it builds itself with the engine. */
export interface StartupMachine {
  /** How the machine was given, for the page's title. */
  readonly title: string;
  /** The machine options as `--device ...` text the page's command-line box can rebuild from; null when a file was involved. */
  readonly commandLine: string | null;
  readonly options: ReturnType<typeof machineOptions>;
}

/**
 * `machbus serve`: the web app (dist/web) on 127.0.0.1, plus ./machine.json describing the machine
 * the command line names. Only static files: the page builds and changes machines in the browser.
 */
export async function serve(opts: ServeCliOptions, argv: readonly string[]): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new MachbusError("bad-property-value", `serve: --port ${opts.port} is not a port number (0-65535; 0 picks a free one)`);
  }
  buildMachine(opts); // a bad option is reported here, once, rather than in the page
  const startup: StartupMachine = {
    title: ["machbus serve", ...machineArgs(argv)].join(" "),
    commandLine: opts.config || opts.hostConfig ? null : machineArgs(argv).join(" "),
    options: machineOptions(opts),
  };
  const machineJson = JSON.stringify(startup);
  await ensureWebBuilt();

  const server = createServer((req, res) => answer(req, res, machineJson));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new MachbusError("bad-property-value", `serve: port ${port} on 127.0.0.1 is in use (choose another with --port)`)
          : e,
      ),
    );
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  process.stdout.write(`machbus: serving the web app at http://127.0.0.1:${actual}/ (Ctrl-C stops)\n`);
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function answer(req: IncomingMessage, res: ServerResponse, machineJson: string): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
  } catch {
    send(res, req, 400, "text/plain; charset=utf-8", "bad request path\n");
    return;
  }
  if (path === "/machine.json") {
    send(res, req, 200, CONTENT_TYPES[".json"]!, machineJson);
    return;
  }
  const file = normalize(join(WEB_DIR, path === "/" ? "index.html" : path));
  if (!file.startsWith(WEB_DIR + sep) || !existsSync(file) || !statSync(file).isFile()) {
    send(res, req, 404, "text/plain; charset=utf-8", `not found: ${path}\n`);
    return;
  }
  send(res, req, 200, CONTENT_TYPES[extname(file)] ?? "application/octet-stream", readFileSync(file));
}

function send(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(body) });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** The argv without serve's own --port, for the page's command-line box. */
function machineArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--port") i++;
    else if (!a.startsWith("--port=")) out.push(/[\s"'\\]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a);
  }
  return out;
}

/** From a clone where only the engine was compiled, build the page on demand (Vite is a dev dependency). */
async function ensureWebBuilt(): Promise<void> {
  if (existsSync(join(WEB_DIR, "index.html"))) return;
  const configFile = join(ROOT, "web", "vite.config.js");
  if (!existsSync(configFile)) {
    throw new MachbusError("file-invalid", `serve: the web app is not built (${WEB_DIR} is missing); run npm run build:web`);
  }
  process.stderr.write("machbus: building the web app (npm run build:web)...\n");
  const vite = "vite"; // a variable, so the compiler does not need Vite's types
  const { build } = (await import(vite)) as { build(options: { configFile: string }): Promise<unknown> };
  await build({ configFile });
}
