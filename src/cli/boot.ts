import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { V86, type V86Options } from "v86";
import { Machine, MachbusError, parseDeviceSpec } from "../index.js";
import type { DebugconEvent } from "../events.js";
import { attachToV86, v86RamOptions } from "../embed/v86-adapter.js";
import { formatInfoPci } from "../monitor/info-pci.js";
import { machineOptions, readUserBytes, type MachineCliOptions } from "./machine-options.js";

/** node_modules/v86/build: the .mjs build needs to be told where its wasm is. */
const V86_BUILD = dirname(createRequire(import.meta.url).resolve("v86"));
let v86Wasm: Promise<WebAssembly.Module> | undefined;
/** v86.wasm, compiled once per process: each run only instantiates it. */
const compiledV86 = (): Promise<WebAssembly.Module> => (v86Wasm ??= WebAssembly.compile(readFileSync(join(V86_BUILD, "v86.wasm"))));

export interface RunFirmwareOptions {
  /** The BIOS image (64-256 KiB), loaded so that it ends at 1 MiB. */
  firmware: Uint8Array;
  /** Stop at the first debug-console line containing this text; without it, run until the timeout. */
  until?: string;
  timeoutMs: number;
  /** Each debug-console line as it arrives (with its "\n"), and the unfinished last one at the end. */
  onOutput?: (text: string) => void;
  /** Runs inside the guest's write of the marker line's "\n": the machine exactly as the firmware left it there. */
  atMarker?: () => void;
}

export interface FirmwareRun {
  /** What the debug consoles printed, up to and including the marker line. */
  log: string;
  /** Milliseconds from the first instruction to the marker line; null when the timeout came first. */
  markerMs: number | null;
}

/**
 * Runs `firmware` on v86's CPU with `machine` serving the machine's ports, memory BARs and
 * interrupt lines (src/embed/v86-adapter.ts), until the marker line or the timeout.
 */
export async function runFirmware(machine: Machine, options: RunFirmwareOptions): Promise<FirmwareRun> {
  const ram = v86RamOptions(machine, await compiledV86());
  let log = "";
  let line = "";
  let started = 0;
  let markerMs: number | null = null;
  let stopped = false;
  let stop!: () => void;
  const done = new Promise<void>((resolve) => (stop = resolve));
  const onByte = ({ byte }: DebugconEvent): void => {
    if (stopped) return; // v86 finishes its time slice after we asked it to stop
    line += String.fromCharCode(byte);
    if (byte !== 10) return;
    log += line;
    options.onOutput?.(line);
    if (options.until !== undefined && line.includes(options.until)) {
      markerMs = performance.now() - started;
      options.atMarker?.();
      stopped = true;
      stop();
    }
    line = "";
  };

  const emulator = new V86({
    ...ram,
    bios: { buffer: new Uint8Array(options.firmware).buffer }, // a copy: v86 keeps it for reboots
    vga_memory_size: 2 * 1024 * 1024, // v86's VGA always exists; machbus does not show it on PCI
    net_device: { type: "none" } as unknown as V86Options["net_device"], // no ne2k at ISA port 0x300
    autostart: true,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  machine.events.on("debugcon", onByte);
  let detach = (): void => {};
  let failure: unknown = null;
  emulator.add_listener("emulator-ready", () => {
    // v86 has built its devices and not run an instruction yet: the moment to take the ports over.
    try {
      detach = attachToV86(emulator, machine).detach;
      started = performance.now();
    } catch (e) {
      failure = e;
      stop();
    }
  });
  const timer = setTimeout(stop, options.timeoutMs);
  try {
    await done;
  } finally {
    stopped = true;
    clearTimeout(timer);
    await emulator.destroy();
    machine.events.off("debugcon", onByte);
    detach();
  }
  if (failure) throw failure;
  if (line && markerMs === null) {
    log += line;
    options.onOutput?.(line);
  }
  return { log, markerMs };
}

export interface BootCliOptions extends MachineCliOptions {
  firmware: string;
  until?: string;
  timeout: string;
}

/**
 * `machbus boot`: the firmware runs over the machine with its debug console on standard output;
 * at the marker (or the timeout) `info pci` shows what the firmware assigned.
 */
export async function boot(opts: BootCliOptions): Promise<void> {
  const firmware = readFirmware(opts.firmware);
  const seconds = Number(opts.timeout);
  if (!(seconds > 0)) throw new MachbusError("bad-property-value", `boot: --timeout ${opts.timeout} is not a positive number of seconds`);
  const options = machineOptions(opts);
  const devices = options.devices ?? [];
  // SeaBIOS logs to a debug console at 0x402 (QEMU's -device isa-debugcon,iobase=0x402).
  const hasConsole = devices.some((d) => (typeof d === "string" ? parseDeviceSpec(d) : d).driver === "isa-debugcon");
  const machine = Machine.create({ ...options, devices: hasConsole ? devices : [...devices, "isa-debugcon,iobase=0x402"] });
  let infoPci = "";
  const run = await runFirmware(machine, {
    firmware,
    until: opts.until,
    timeoutMs: seconds * 1000,
    onOutput: (text) => process.stdout.write(text),
    atMarker: () => (infoPci = formatInfoPci(machine)),
  });
  if (opts.until !== undefined && run.markerMs === null) {
    throw new MachbusError("firmware-timeout", `boot: the firmware did not print "${opts.until}" within ${seconds} s`);
  }
  process.stdout.write(infoPci || formatInfoPci(machine));
}

function readFirmware(path: string): Uint8Array {
  const bytes = readUserBytes(path, "firmware");
  if (bytes.length === 0 || bytes.length > 0x40000 || bytes.length % 0x10000 !== 0) {
    throw new MachbusError(
      "file-invalid",
      `boot: firmware ${path} is ${bytes.length} bytes; a BIOS image of 64, 128, 192 or 256 KiB is needed`,
    );
  }
  return bytes;
}
