import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { V86, type V86Options } from "v86";
import { Machine, MachbusError, isMachbusError, parseDeviceSpec, type LinuxBoot, type MachineOptions } from "../index.js";
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
  /**
   * Which guest output is the log: the machine's debug consoles (isa-debugcon, where SeaBIOS
   * logs; the default) or COM1 at 0x3f8, v86's UART (a Linux guest's console=ttyS0). Carriage
   * returns on the serial line are dropped.
   */
  console?: "debugcon" | "serial";
  /** Stop at the first log line containing this text; without it, run until the timeout. */
  until?: string;
  timeoutMs: number;
  /** Each log line as it arrives (with its "\n"), and the unfinished last one at the end. */
  onOutput?: (text: string) => void;
  /** Runs inside the guest's write of the marker line's "\n": the machine exactly as the guest left it there. */
  atMarker?: () => void;
  /** Runs once v86 is attached, before the first instruction: a handle to type into the guest's COM1. */
  onStart?: (guest: GuestHandle) => void;
}

/** What a running guest offers the caller besides its log. */
export interface GuestHandle {
  /** Sends bytes to the guest's COM1 (v86's UART), as typed on its serial line. */
  sendSerial(text: string): void;
}

export interface FirmwareRun {
  /** What the guest printed on the log's console, up to and including the marker line. */
  log: string;
  /** Milliseconds from the first instruction to the marker line; null when the timeout or a power-off came first. */
  markerMs: number | null;
  /** Whether the guest powered the machine off (ACPI soft off), which ends the run as it ends QEMU. */
  poweredOff: boolean;
}

/**
 * Runs `firmware` on v86's CPU with `machine` serving the machine's ports, memory BARs and
 * interrupt lines (src/embed/v86-adapter.ts), until the marker line, the guest's power-off or the
 * timeout.
 */
export async function runFirmware(machine: Machine, options: RunFirmwareOptions): Promise<FirmwareRun> {
  const ram = v86RamOptions(machine, await compiledV86());
  let log = "";
  let line = "";
  let started = 0;
  let markerMs: number | null = null;
  let poweredOff = false;
  let stopped = false;
  let stop!: () => void;
  const done = new Promise<void>((resolve) => (stop = resolve));
  const serial = options.console === "serial";
  const onByte = (byte: number): void => {
    if (stopped) return; // v86 finishes its time slice after we asked it to stop
    if (serial && byte === 13) return;
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
    acpi: true, // v86's local APIC and I/O APIC, as QEMU's pc has them (attachToV86 silences v86's own ACPI device)
    autostart: true,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  const onDebugcon = ({ byte }: DebugconEvent): void => onByte(byte);
  const onShutdown = (): void => {
    poweredOff = true;
    stopped = true;
    stop();
  };
  machine.events.on("shutdown-request", onShutdown);
  if (serial) emulator.add_listener("serial0-output-byte", onByte);
  else machine.events.on("debugcon", onDebugcon);
  let detach = (): void => {};
  let failure: unknown = null;
  emulator.add_listener("emulator-ready", () => {
    // v86 has built its devices and not run an instruction yet: the moment to take the ports over.
    try {
      detach = attachToV86(emulator, machine).detach;
      started = performance.now();
      options.onStart?.({ sendSerial: (text) => emulator.serial0_send(text) });
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
    machine.events.off("debugcon", onDebugcon);
    machine.events.off("shutdown-request", onShutdown);
    detach();
  }
  if (failure) throw failure;
  if (line && markerMs === null) {
    log += line;
    options.onOutput?.(line);
  }
  return { log, markerMs, poweredOff };
}

export interface BootCliOptions extends MachineCliOptions {
  firmware?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  until?: string;
  timeout?: string;
}

/** The BIOS `machbus boot --kernel` runs when no --firmware is given: Debian's SeaBIOS, as the SeaBIOS conformance tests use. */
export const DEFAULT_BIOS = "/usr/share/seabios/bios.bin";
/** QEMU's port-I/O linuxboot option ROM as Debian ships it (package qemu-system-data). */
export const LINUXBOOT_ROM = "/usr/share/qemu/linuxboot.bin";
const FIRMWARE_TIMEOUT_S = "10";
const KERNEL_TIMEOUT_S = "300";

/**
 * `machbus boot`: the firmware runs over the machine. Without --kernel its debug console goes to
 * standard output, and at the marker (or the timeout) `info pci` shows what the firmware
 * assigned. With --kernel, SeaBIOS boots that kernel as QEMU's -kernel does (fw_cfg items and
 * the linuxboot option ROM), and the guest's COM1 goes to standard output.
 */
export async function boot(opts: BootCliOptions): Promise<void> {
  if (opts.kernel === undefined) {
    if (opts.initrd !== undefined) throw new MachbusError("bad-property-value", "boot: --initrd is only allowed with --kernel");
    if (opts.append !== undefined) throw new MachbusError("bad-property-value", "boot: --append is only allowed with --kernel");
    if (opts.firmware === undefined) throw new MachbusError("bad-property-value", "boot: --firmware PATH or --kernel PATH is needed");
  }
  const timeout = opts.timeout ?? (opts.kernel !== undefined ? KERNEL_TIMEOUT_S : FIRMWARE_TIMEOUT_S);
  const seconds = Number(timeout);
  if (!(seconds > 0)) throw new MachbusError("bad-property-value", `boot: --timeout ${timeout} is not a positive number of seconds`);
  const firmware = readFirmware(opts.firmware ?? DEFAULT_BIOS);
  const options = machineOptions(opts);
  if (opts.kernel !== undefined) {
    const machine = createWithKernel(options, opts.kernel, opts.initrd, opts.append);
    const run = await runFirmware(machine, {
      firmware,
      console: "serial",
      until: opts.until,
      timeoutMs: seconds * 1000,
      onOutput: (text) => process.stdout.write(text),
    });
    if (opts.until !== undefined && run.markerMs === null) {
      const why = run.poweredOff ? "before it powered off" : `within ${seconds} s`;
      throw new MachbusError("firmware-timeout", `boot: the guest did not print "${opts.until}" on its serial port ${why}`);
    }
    return;
  }
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
    const why = run.poweredOff ? "before the guest powered off" : `within ${seconds} s`;
    throw new MachbusError("firmware-timeout", `boot: the firmware did not print "${opts.until}" ${why}`);
  }
  process.stdout.write(infoPci || formatInfoPci(machine));
}

/** The machine with a kernel for SeaBIOS to boot; a file that is not what it should be is named in the error. */
function createWithKernel(options: MachineOptions, kernelPath: string, initrdPath?: string, cmdline?: string): Machine {
  const linuxBoot: LinuxBoot = {
    kernel: readUserBytes(kernelPath, "kernel"),
    initrd: initrdPath === undefined ? undefined : readUserBytes(initrdPath, "initrd"),
    cmdline,
    optionRom: readUserBytes(LINUXBOOT_ROM, "QEMU's linuxboot option ROM (Debian package qemu-system-data)"),
  };
  try {
    return Machine.create({ ...options, linuxBoot, serial: true }); // the kernel's console is COM1
  } catch (e) {
    if (isMachbusError(e) && e.code === "kernel-invalid") throw e.within(`boot: kernel ${kernelPath}`);
    if (isMachbusError(e) && e.code === "initrd-invalid") throw e.within(`boot: initrd ${initrdPath}`);
    throw e;
  }
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
