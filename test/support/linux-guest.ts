import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Machine, type MachineOptions } from "../../src/index.js";
import { LINUXBOOT_ROM, runFirmware, type FirmwareRun, type GuestHandle } from "../../src/cli/boot.js";

/**
 * The Linux conformance guest that test/setup/linux-guest.mjs builds into the cache (Debian's
 * 686 kernel, a busybox + pciutils initramfs whose /init dumps what the guest sees of PCI), and
 * booting it on machbus as test/fixtures/linux/regenerate.mjs boots it on QEMU.
 */
export interface LinuxGuest {
  key: string;
  kernel: { path: string; release: string; sha256: string };
  initrd: { path: string; sha256: string };
  packages: { name: string; version: string; arch: string }[];
}

/** Where linux-guest.mjs records the guest it built last ($MACHBUS_CACHE, default ~/.cache/machbus). */
export const LINUX_GUEST_JSON = join(process.env.MACHBUS_CACHE || join(homedir(), ".cache", "machbus"), "linux-guest", "guest.json");
export const SEABIOS = "/usr/share/seabios/bios.bin";
export const GUEST_BEGIN = "=== machbus-guest: begin ===";
export const GUEST_END = "=== machbus-guest: end ===";

/** The cached guest, or null when test/setup/linux-guest.mjs has not built it on this machine. */
export function locateLinuxGuest(): LinuxGuest | null {
  if (!existsSync(LINUX_GUEST_JSON)) return null;
  const guest = JSON.parse(readFileSync(LINUX_GUEST_JSON, "utf8")) as LinuxGuest;
  return existsSync(guest.kernel.path) && existsSync(guest.initrd.path) ? guest : null;
}

export interface LinuxBootRun extends FirmwareRun {
  machine: Machine;
}

/**
 * SeaBIOS on v86 boots the guest over a machbus machine with `options` (QEMU's -m 128 unless
 * given), `cmdline` as -append, until the guest prints `until` on its serial port.
 */
export async function bootLinuxGuest(
  guest: LinuxGuest,
  options: MachineOptions,
  cmdline: string,
  run: { until: string; timeoutMs: number; onOutput?: (line: string, machine: Machine) => void; onStart?: (guest: GuestHandle) => void },
): Promise<LinuxBootRun> {
  const machine = Machine.create({
    memory: "128M",
    serial: true, // QEMU's -serial: the fixtures' guest has a COM1
    ...options,
    linuxBoot: {
      kernel: readFileSync(guest.kernel.path),
      initrd: readFileSync(guest.initrd.path),
      cmdline,
      optionRom: readFileSync(LINUXBOOT_ROM),
    },
  });
  const { onOutput } = run;
  const result = await runFirmware(machine, {
    firmware: readFileSync(SEABIOS),
    console: "serial",
    ...run,
    onOutput: onOutput && ((line) => onOutput(line, machine)),
  });
  return { ...result, machine };
}

/** The guest's serial output from the begin marker to `end`, dmesg timestamps stripped (as regenerate.mjs keeps QEMU's). */
export function normalizeGuestOutput(text: string, end = GUEST_END): string {
  const lines = text.replace(/\r/g, "").split("\n");
  const from = lines.indexOf(GUEST_BEGIN);
  const to = lines.indexOf(end, from);
  if (from < 0 || to < 0) throw new Error(`the guest's output lacks ${GUEST_BEGIN} ... ${end}; its end:\n${text.slice(-3000)}`);
  return lines
    .slice(from, to + 1)
    .map((l) => l.replace(/^\[ *\d+\.\d+\] /, ""))
    .join("\n")
    .concat("\n");
}

/** What the guest's /init printed, by section: one sysfs entry per function. */
export interface GuestDump {
  pciDevices: string[];
  functions: Map<string, { config: number[]; resource: string[]; irq: string[] }>;
  /** lspci -vvv -xxx -nn, one block per function, by bus address ("00:02.0"). */
  lspci: Map<string, string[]>;
  ioports: string[];
  iomem: string[];
  dmesg: string[];
}

/** Splits a normalized dump at its `=== machbus-guest: NAME ===` markers. */
export function parseGuestDump(text: string): GuestDump {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of text.split("\n")) {
    const m = /^=== machbus-guest: (.+) ===$/.exec(line);
    if (m) sections.set(m[1]!, (current = []));
    else current?.push(line);
  }
  const section = (name: string): string[] => {
    const lines = sections.get(name);
    if (!lines) throw new Error(`the guest's dump has no section ${name}`);
    return lines.filter((l, i) => l !== "" || i < lines.length - 1);
  };
  const functions = new Map<string, { config: number[]; resource: string[]; irq: string[] }>();
  for (const [name, lines] of sections) {
    if (!name.startsWith("sysfs ")) continue;
    const part = (tag: string): string[] => {
      const from = lines.indexOf(`--- ${tag}`);
      const rest = lines.slice(from + 1);
      const to = rest.findIndex((l) => l.startsWith("--- "));
      return (to < 0 ? rest : rest.slice(0, to)).filter((l) => l !== "");
    };
    const config = part("config").flatMap((l) =>
      l
        .trim()
        .split(/\s+/)
        .map((b) => parseInt(b, 16)),
    );
    functions.set(name.slice("sysfs ".length), { config, resource: part("resource"), irq: part("irq") });
  }
  const lspci = new Map<string, string[]>();
  let block: string[] = [];
  for (const line of section("lspci")) {
    const head = /^([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) /.exec(line);
    if (head) lspci.set(head[1]!, (block = []));
    if (line !== "") block.push(line);
  }
  return {
    pciDevices: section("proc-bus-pci-devices"),
    functions,
    lspci,
    ioports: section("ioports"),
    iomem: section("iomem"),
    dmesg: section("dmesg"),
  };
}
