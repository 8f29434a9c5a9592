import { isMachbusError } from "../errors.js";
import type { Machine } from "../machine/machine.js";
import { deviceHelp } from "./device-help.js";
import { HmpParser, formatPortRead, portAccess, portRangeError, type HmpParsedCommand } from "./hmp-args.js";
import { formatInfoPci } from "./info-pci.js";
import { formatQtree } from "./info-qtree.js";

/** Where savevm and loadvm keep snapshots: files for the CLI, anything for an embedder. */
export interface SnapshotStore {
  read(name: string): Uint8Array;
  write(name: string, data: Uint8Array): void;
}

export interface MonitorResult {
  /** What the monitor prints for the line (QEMU 7.2's HMP text). */
  readonly output: string;
  /** The line asked the monitor to stop (`quit`). */
  readonly quit: boolean;
  /**
   * The line failed: QEMU printed an error for it (an unknown command, bad arguments, a refused
   * operation). Scripts piped into `machbus monitor` can stop on it (--fail-on-error).
   */
  readonly failed: boolean;
}

/** `info` subcommands this monitor answers. */
const INFO: Record<string, (m: Machine) => string> = {
  pci: formatInfoPci,
  qtree: formatQtree,
};

/**
 * A QEMU-HMP-style monitor over one machine: `execute` takes one command line and returns what
 * QEMU 7.2 prints for it. Errors are printed, never thrown: the loop always goes on, and a line
 * that fails leaves the machine as it was. Browser-safe; the CLI feeds it standard input.
 */
export class Monitor {
  private readonly parser = new HmpParser({ info: Object.keys(INFO) });

  constructor(
    readonly machine: Machine,
    private readonly store: SnapshotStore | null = null,
  ) {}

  execute(line: string): MonitorResult {
    const parsed = this.parser.parse(line);
    if (!parsed.ok) return { output: parsed.output, quit: false, failed: parsed.kind !== "empty" };
    const warned = this.machine.warnings.length;
    // QEMU prints a command's warnings (warn_report) on the monitor, before what the command prints.
    const warnings = (): string =>
      this.machine.warnings
        .slice(warned)
        .map((w) => `${w}\n`)
        .join("");
    try {
      const r = this.run(parsed);
      return { ...r, output: warnings() + r.output };
    } catch (e) {
      // QEMU's hmp_handle_error prints "Error: " and the message.
      if (isMachbusError(e)) return { output: `${warnings()}Error: ${e.message}\n`, quit: false, failed: true };
      throw e;
    }
  }

  private run(cmd: HmpParsedCommand): MonitorResult {
    const m = this.machine;
    const done = (output = ""): MonitorResult => ({ output, quit: false, failed: false });
    const fail = (output: string): MonitorResult => ({ output, quit: false, failed: true });
    switch (cmd.command) {
      case "quit":
        return { output: "", quit: true, failed: false };
      case "help":
        return done(this.parser.help(cmd.args[0] as string | undefined));
      case "info":
        if (cmd.subcommand === undefined) return done(this.parser.help("info"));
        return done(INFO[cmd.subcommand]!(m));
      case "i":
      case "o": {
        // QEMU wraps ports above 0xffff to 16 bits; machbus refuses them (the machine is untouched).
        const bad = portRangeError(cmd);
        if (bad) return fail(bad);
        const access = portAccess(cmd)!;
        if (access.kind === "write") {
          m.io.write(access.port, access.size, access.value);
          return done();
        }
        if (access.select) m.io.write(access.select.port, 1, access.select.value);
        return done(formatPortRead(access.port, access.fmtSize, m.io.read(access.port, access.size)));
      }
      case "device_add": {
        const spec = cmd.named["device"] as string | undefined;
        // QEMU's device_add takes its argument as optional and then finds no driver in it.
        if (spec === undefined) return fail("Error: Parameter 'driver' is missing\n");
        const help = deviceHelp(spec, m.drivers);
        if (help !== null) return done(help);
        m.addDevice(spec);
        return done();
      }
      case "device_del":
        m.removeDevice(cmd.named["id"] as string);
        return done();
      case "savevm":
      case "loadvm": {
        if (!this.store) return fail("Error: this monitor has nowhere to keep snapshots\n");
        const name = cmd.named["name"] as string | undefined;
        if (!name) return fail("Error: savevm needs a file name\n");
        if (cmd.command === "savevm") this.store.write(name, m.save());
        else m.load(this.store.read(name), name);
        return done();
      }
      case "system_reset":
        m.reset();
        return done();
      default:
        return fail(`Error: '${cmd.command}' is not supported by this monitor yet\n`);
    }
  }
}
