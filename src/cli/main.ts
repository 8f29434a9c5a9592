import { Command, CommanderError } from "commander";

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { builtinMachineTypes, isMachbusError } from "../index.js";
import { clip } from "../errors.js";
import { formatInfoPci } from "../monitor/info-pci.js";
import { formatQtree } from "../monitor/info-qtree.js";
import { lspciDump, type DumpDepth } from "../pci/lspci-dump.js";
import { queryPciJson } from "../pci/query-pci.js";
import { formatSlotReport, slotReport } from "../machine/slots.js";
import { normalizeArgv } from "./argv.js";
import { boot, DEFAULT_BIOS, type BootCliOptions } from "./boot.js";
import { registerExperimentCommands } from "./experiment.js";
import { registerLayoutCommand } from "./layout.js";
import { applyBarLayout, numberBusesAsFirmware } from "../layout/bar-layout.js";
import { registerPlotCommands } from "./plot.js";
import { registerRunCommand } from "./run.js";
import { serve, type ServeCliOptions } from "./serve.js";
import {
  addMachineOptions,
  buildMachine,
  formatMachineList,
  readUserBytes,
  readUserFile,
  writeUserFile,
  type MachineCliOptions,
} from "./machine-options.js";
import { dumpMachineConfig, formatMachineConfig, machineConfigJsonSchema, parseMachineConfig } from "../state/machine-config.js";
import { compareMachineConfigs } from "../state/migration.js";
import { experimentJsonSchema } from "../experiment/spec.js";

const program = new Command();
program
  .name("machbus")
  .description("A machine-bus simulator: QEMU-exact pc machines, PCI config cycles and device models.")
  .version(machbusVersion(), "-V, --version", "print machbus's version (and QEMU's whose machines it reproduces)")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

program
  .command("machines")
  .description("list machine types, their aliases and the default (QEMU's -M help)")
  .option("--default", "print only the default machine type")
  .action((opts: { default?: boolean }) => {
    if (opts.default) {
      process.stdout.write(builtinMachineTypes.default().name + "\n");
      return;
    }
    process.stdout.write(formatMachineList());
  });

const info = program.command("info").description("show the machine as QEMU's monitor `info` does");
addMachineOptions(info.command("pci"))
  .description("the PCI topology as `info pci` prints it (--json: as QMP query-pci)")
  .option("--json", "print QMP query-pci JSON")
  .option(
    "--firmware-layout",
    "first program bus numbers, BARs and windows as SeaBIOS would (what the guest's monitor shows after firmware)",
  )
  .action((opts: MachineCliOptions & { json?: boolean; firmwareLayout?: boolean }) => {
    const m = buildMachine(opts);
    if (opts.firmwareLayout) applyBarLayout(m);
    process.stdout.write(opts.json ? queryPciJson(m) + "\n" : formatInfoPci(m));
  });

for (const name of ["qtree", "devices"]) {
  addMachineOptions(info.command(name))
    .description(
      name === "qtree"
        ? "the device tree as QEMU's `info qtree` prints it: buses, devices and their resolved properties, drives on IDE and SCSI buses"
        : "the same as `info qtree`",
    )
    .action((opts: MachineCliOptions) => {
      process.stdout.write(formatQtree(buildMachine(opts)));
    });
}

addMachineOptions(program.command("lspci"))
  .description(
    "config space in pciutils' dump format (-x 64 bytes, -xxx 256, -xxxx 4096), bridges' buses numbered as firmware does; read it with lspci -F FILE",
  )
  .option("--hex <level>", "dump depth: 1 (-x), 3 (-xxx) or 4 (-xxxx)", "1")
  .action((opts: MachineCliOptions & { hex: string }) => {
    const depth = Number(opts.hex);
    if (depth !== 1 && depth !== 3 && depth !== 4) throw new CliError(`lspci: -x, -xxx or -xxxx (got level ${opts.hex})`);
    // What a guest's lspci finds: firmware has numbered the buses behind bridges by then.
    const machine = buildMachine(opts);
    numberBusesAsFirmware(machine);
    process.stdout.write(lspciDump(machine, depth as DumpDepth));
  });

addMachineOptions(program.command("slots"))
  .description("free slots per bus, and who holds (or why the board keeps) each taken one")
  .option("--json", "print the report as JSON")
  .action((opts: MachineCliOptions & { json?: boolean }) => {
    const report = slotReport(buildMachine(opts));
    process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatSlotReport(report));
  });

registerLayoutCommand(program);
registerRunCommand(program);
registerExperimentCommands(program);
registerPlotCommands(program);

addMachineOptions(program.command("dump-config"))
  .description("the machine's guest-visible configuration as a complete, reloadable file (YAML; --json)")
  .option("--json", "write JSON instead of YAML")
  .option("--host-file <file>", "write the host configuration (drives, backends) to this file instead of a host: section")
  .action((opts: MachineCliOptions & { json?: boolean; hostFile?: string }) => {
    const m = buildMachine(opts);
    const format = opts.json ? "json" : "yaml";
    if (opts.hostFile) writeUserFile(opts.hostFile, formatMachineConfig(m.hostConfig, format), "host config");
    process.stdout.write(formatMachineConfig(dumpMachineConfig(m, { withHost: !opts.hostFile }), format));
  });

program
  .command("schema")
  .description("print the JSON Schema of machine-definition files (docs/machine-config.schema.json)")
  .option("--experiment", "the JSON Schema of experiment specs instead (docs/experiment.schema.json)")
  .action((opts: { experiment?: boolean }) => {
    process.stdout.write(JSON.stringify(opts.experiment ? experimentJsonSchema() : machineConfigJsonSchema(), null, 2) + "\n");
  });

program
  .command("migrate-check")
  .description("can a machine described by SRC migrate to one described by DST? prints ok, or every difference")
  .argument("<src>", "source machine-definition file")
  .argument("<dst>", "destination machine-definition file")
  .action((src: string, dst: string) => {
    const differences = compareMachineConfigs(
      { config: parseMachineConfig(readUserFile(src, "config"), src), file: src },
      { config: parseMachineConfig(readUserFile(dst, "config"), dst), file: dst },
    );
    if (differences.length === 0) {
      process.stdout.write("ok\n");
      return;
    }
    process.stdout.write(differences.map((d) => `${d}\n`).join(""));
    process.exitCode = 1;
  });

addMachineOptions(program.command("boot"))
  .description(
    "run a BIOS (e.g. SeaBIOS) on v86's CPU over the machine: its debug console, then info pci; " +
      "with --kernel, SeaBIOS boots that Linux kernel as QEMU's -kernel does and the guest's serial port (COM1) is printed",
  )
  .option("--firmware <path>", `BIOS image (default with --kernel: ${DEFAULT_BIOS})`)
  .option("--kernel <bzImage>", "Linux kernel for the firmware to boot (fw_cfg and QEMU's linuxboot.bin) [-kernel]")
  .option("--initrd <file>", "initial RAM disk for the kernel [-initrd]")
  .option("--append <cmdline>", "kernel command line, e.g. console=ttyS0 [-append]")
  .option("--until <text>", "stop at the first output line containing TEXT (an error if it never comes)")
  .option("--timeout <seconds>", "give up after this long (default 10 s; with --kernel 300 s)")
  .action((opts: BootCliOptions) => boot(opts));

addMachineOptions(program.command("serve"))
  .description("the web app (slot map, config space, address map) on 127.0.0.1, starting with the machine the options describe")
  .option("--port <n>", "TCP port on 127.0.0.1 (0: any free port)", "8086")
  .action((opts: ServeCliOptions) => serve(opts, normalizeArgv(process.argv.slice(2)).slice(1)));

addMachineOptions(program.command("monitor"))
  .description("a QEMU-HMP-style monitor reading commands from standard input")
  .option(
    "--fail-on-error",
    "for scripts: run every line as usual, then exit with status 1 (naming the first failed line on stderr) if any line failed",
  )
  .action(async (opts: MachineCliOptions & { failOnError?: boolean }) => {
    const { Monitor } = await import("../monitor/monitor.js");
    const monitor = new Monitor(buildMachine(opts), {
      read: (name) => readUserBytes(name, "snapshot"),
      write: (name, data) => writeUserFile(name, data, "snapshot"),
    });
    const interactive = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, terminal: interactive, prompt: "(machbus) " });
    if (interactive) rl.prompt();
    let lineNo = 0;
    const failed: number[] = [];
    let firstFailure = "";
    for await (const line of rl) {
      lineNo++;
      const { output, quit, failed: lineFailed } = monitor.execute(line);
      if (lineFailed && failed.push(lineNo) === 1) firstFailure = `${clip(line)}: ${clip(output.trim().split("\n").pop() ?? "")}`;
      process.stdout.write(output);
      if (quit) break;
      if (interactive) rl.prompt();
    }
    rl.close();
    if (opts.failOnError && failed.length) {
      process.stderr.write(`machbus: monitor: ${failed.length} of ${lineNo} lines failed; the first, line ${failed[0]}: ${firstFailure}\n`);
      process.exitCode = 1;
    }
  });

function machbusVersion(): string {
  const pkg = createRequire(import.meta.url)("machbus/package.json") as { version: string };
  return `machbus ${pkg.version} (machine types and devices as QEMU 7.2 has them)`;
}

/** A usage mistake found by the CLI itself (not by the engine). */
class CliError extends Error {}

// A reader that stops early (`machbus boot | head`) closes the pipe: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(process.exitCode ?? 0);
  });
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(normalizeArgv(process.argv.slice(2)), { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its one-line message; help and version exit 0.
      process.exitCode = e.exitCode;
      return;
    }
    if (isMachbusError(e) || e instanceof CliError) {
      process.stderr.write(`machbus: ${isMachbusError(e) ? e.describe() : e.message}\n`);
      process.exitCode = 1;
      return;
    }
    const err = e as Error;
    process.stderr.write(`machbus: internal error: ${clip(err.message)}\n`);
    if (process.env.MACHBUS_DEBUG) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write("machbus: (set MACHBUS_DEBUG=1 for the stack trace, and please report it)\n");
    process.exitCode = 70;
  }
}

await main();
