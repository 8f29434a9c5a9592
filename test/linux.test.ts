import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  GUEST_END,
  bootLinuxGuest,
  locateLinuxGuest,
  normalizeGuestOutput,
  parseGuestDump,
  type GuestDump,
  type LinuxGuest,
} from "./support/linux-guest.js";
import { linesOnlyIn } from "./support/lines.js";
import { LINUX_NAMED_DIFFERENCES, type GuestSection, type NamedDifference } from "./support/linux-differences.js";

/**
 * Debian's 686 kernel and the conformance initramfs boot on v86 over a machbus pc, handed over
 * by SeaBIOS and QEMU's linuxboot ROM as on QEMU, and the guest must see what it sees on QEMU
 * 7.2 (test/fixtures/linux, regenerate.mjs): /proc/bus/pci/devices, every function's config
 * bytes, resources and IRQ from sysfs, lspci -vvv -xxx -nn, the PCI lines of /proc/ioports and
 * /proc/iomem, and the PCI and ACPI lines of dmesg. Each device list boots once; every section is
 * compared from that boot. A difference is allowed only where test/support/linux-differences.ts
 * names it with its reason, and never in config bytes outside the named ones, BARs or IRQs.
 */
const FIXTURES = new URL("./fixtures/linux/", import.meta.url);
const ARTIFACTS = new URL("./artifacts/linux/", import.meta.url);
const SCENARIOS = ["chipset", "e1000-virtio-net", "bridge"];
const BOOT_TIMEOUT_MS = 400_000;

interface ScenarioRecord {
  devices: string[];
  cmdline: string;
  guest: { kernel: string; kernelSha256: string; initrdSha256: string; packages: { name: string; version: string }[] };
}

const guest = locateLinuxGuest();

/** The named differences in effect for a section of a device list. */
const rulesFor = (section: GuestSection, scenario: string): NamedDifference[] =>
  LINUX_NAMED_DIFFERENCES.filter((d) => d.section === section && (d.scenarios?.includes(scenario) ?? true));

/** Differing lines of a section that no named difference in effect explains, each with the side it is on. */
function unexplained(section: GuestSection, theirs: readonly string[], ours: readonly string[], scenario: string): string[] {
  const rules = rulesFor(section, scenario);
  const named = (side: "qemu" | "machbus", line: string): boolean => rules.some((d) => d.lines?.[side]?.some((re) => re.test(line)));
  const qemu = theirs;
  return [
    ...linesOnlyIn(qemu, ours)
      .filter((l) => !named("qemu", l))
      .map((l) => `only on QEMU:    ${l}`),
    ...linesOnlyIn(ours, qemu)
      .filter((l) => !named("machbus", l))
      .map((l) => `only on machbus: ${l}`),
  ];
}

/** The lines of /proc/ioports or /proc/iomem that name a PCI bus or function. */
const pciResourceLines = (lines: readonly string[]): string[] =>
  lines.filter((l) => /PCI Bus|\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b/.test(l));
/** The dmesg lines about PCI or ACPI. */
const pciAcpiLines = (lines: readonly string[]): string[] => lines.filter((l) => /\bpci|PCI|ACPI|\bacpi/.test(l));

describe("Linux on machbus sees the PCI machine it sees on QEMU 7.2 (test/fixtures/linux)", () => {
  it("has the guest that the fixtures were recorded with (test/setup/linux-guest.mjs builds it into the cache)", () => {
    expect(guest, `no Linux guest in the cache: run node test/setup/linux-guest.mjs (npm test's set-up does)`).not.toBeNull();
    for (const name of SCENARIOS) {
      const record = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as ScenarioRecord;
      expect(
        { kernel: guest?.kernel.sha256, initrd: guest?.initrd.sha256 },
        `${name}: regenerate test/fixtures/linux for this guest`,
      ).toEqual({
        kernel: record.guest.kernelSha256,
        initrd: record.guest.initrdSha256,
      });
    }
  });

  for (const name of SCENARIOS) {
    describe(name, () => {
      const record = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as ScenarioRecord;
      const qemu = parseGuestDump(readFileSync(new URL(`${name}.log`, FIXTURES), "latin1"));
      let ours: GuestDump;

      beforeAll(async () => {
        const run = await bootLinuxGuest(guest as LinuxGuest, { devices: record.devices }, record.cmdline, {
          until: GUEST_END,
          timeoutMs: BOOT_TIMEOUT_MS,
        });
        if (run.markerMs === null) throw new Error(`${name}: the guest did not finish its dump; its output ends:\n${run.log.slice(-3000)}`);
        const text = normalizeGuestOutput(run.log);
        mkdirSync(ARTIFACTS, { recursive: true });
        writeFileSync(new URL(`${name}.machbus.log`, ARTIFACTS), text); // for a look at what differs
        ours = parseGuestDump(text);
      }, BOOT_TIMEOUT_MS + 60_000);

      it("lists the same functions with the same BARs and IRQs in /proc/bus/pci/devices, but for the named lines", () => {
        expect(ours.pciDevices).toHaveLength(qemu.pciDevices.length);
        expect(unexplained("pci-devices", qemu.pciDevices, ours.pciDevices, name)).toEqual([]);
      });

      it("reads every function's 256 config bytes as on QEMU, but for the named bytes", () => {
        expect([...ours.functions.keys()]).toEqual([...qemu.functions.keys()]);
        const differing: string[] = [];
        for (const [bdf, theirs] of qemu.functions) {
          const mine = ours.functions.get(bdf)!.config;
          expect(mine, bdf).toHaveLength(256);
          theirs.config.forEach((byte, offset) => {
            if (mine[offset] === byte) return;
            const named = rulesFor("config", name).some((d) => d.config?.bdf === bdf && d.config.offsets.includes(offset));
            if (!named)
              differing.push(`${bdf} 0x${offset.toString(16)}: QEMU 0x${byte.toString(16)}, machbus 0x${mine[offset]!.toString(16)}`);
          });
        }
        expect(differing).toEqual([]);
      });

      it("has sysfs resource files equal to QEMU's, and irq files but for the named ones", () => {
        const namedIrq = new Set(rulesFor("irq", name).map((d) => d.config!.bdf));
        for (const [bdf, theirs] of qemu.functions) {
          const mine = ours.functions.get(bdf);
          expect(mine?.resource, bdf).toEqual(theirs.resource);
          if (!namedIrq.has(bdf)) expect(mine?.irq, bdf).toEqual(theirs.irq);
        }
      });

      it("prints QEMU's lspci -vvv -xxx -nn, but for the named lines", () => {
        expect([...ours.lspci.keys()]).toEqual([...qemu.lspci.keys()]);
        const lines = [...qemu.lspci].flatMap(([bdf, theirs]) =>
          unexplained("lspci", theirs, ours.lspci.get(bdf)!, name).map((l) => `${bdf} ${l}`),
        );
        expect(lines).toEqual([]);
      });

      it("has QEMU's PCI lines in /proc/ioports and /proc/iomem, but for the named ones", () => {
        expect(unexplained("ioports", pciResourceLines(qemu.ioports), pciResourceLines(ours.ioports), name)).toEqual([]);
        expect(unexplained("iomem", pciResourceLines(qemu.iomem), pciResourceLines(ours.iomem), name)).toEqual([]);
      });

      it("logs QEMU's PCI and ACPI lines in dmesg, but for the named ones", () => {
        expect(unexplained("dmesg", pciAcpiLines(qemu.dmesg), pciAcpiLines(ours.dmesg), name)).toEqual([]);
      });
    });
  }
});
