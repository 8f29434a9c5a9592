import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  bootLinuxGuest,
  locateLinuxGuest,
  normalizeGuestOutput,
  parseGuestDump,
  type GuestDump,
  type LinuxGuest,
} from "./support/linux-guest.js";
import { linesOnlyIn } from "./support/lines.js";

/**
 * ACPI PCI hotplug seen by the guest (test/fixtures/linux/hotplug-e1000): Linux runs on machbus
 * with QEMU's DSDT, dumps, and waits; then device_add e1000 (as QMP's device_add on QEMU) sets
 * the slot's bit in PIIX4's hotplug register and raises GPE 1, the SCI runs the DSDT's _E01,
 * Linux's acpiphp scans slot 2 and the guest dumps again. What it then sees of the new function
 * must be what it sees on QEMU 7.2. Then device_del asks the guest to eject the slot, and the
 * device leaves when the guest's _EJ0 writes the eject register.
 */
const FIXTURES = new URL("./fixtures/linux/", import.meta.url);
const WAITING = "=== machbus-guest: waiting-for-hotplug ===";
const END = "=== machbus-guest: end-after-hotplug ===";
const BOOT_TIMEOUT_MS = 400_000;
const NEW_FUNCTION = "0000:00:02.0";

interface HotplugRecord {
  devices: string[];
  cmdline: string;
  hotplug: string;
}

const guest = locateLinuxGuest();

describe("Linux on machbus sees an e1000 hot-plugged through ACPI as it does on QEMU 7.2", () => {
  const record = JSON.parse(readFileSync(new URL("hotplug-e1000.json", FIXTURES), "utf8")) as HotplugRecord;
  const qemu = parseGuestDump(readFileSync(new URL("hotplug-e1000.log", FIXTURES), "latin1")); // later sections: after the hotplug
  let ours: GuestDump;
  let deleted: string[] = [];

  beforeAll(async () => {
    expect(guest, "no Linux guest in the cache: run node test/setup/linux-guest.mjs").not.toBeNull();
    const run = await bootLinuxGuest(guest as LinuxGuest, { devices: record.devices }, record.cmdline, {
      until: END,
      timeoutMs: BOOT_TIMEOUT_MS,
      onOutput: (line, machine) => {
        if (line.includes(WAITING)) machine.addDevice(record.hotplug);
      },
    });
    if (run.markerMs === null) throw new Error(`the guest did not dump after the hotplug; its output ends:\n${run.log.slice(-3000)}`);
    ours = parseGuestDump(normalizeGuestOutput(run.log, END));
    // device_del while ACPI is in control: a request the guest answers with _EJ0
    const machine = run.machine;
    machine.events.on("device-deleted", ({ id }) => deleted.push(String(id)));
    machine.removeDevice("hp1");
    deleted = [...deleted];
    const requested = machine.findDevice("hp1") !== undefined;
    expect(requested, "device_del waits for the guest's eject").toBe(true);
    // the guest's _EJ0 path, as acpiphp runs it: select bus 0, write the slot's bit to the eject register
    machine.ioWrite(0xae10, 4, 0);
    expect(machine.ioRead(0xae04, 4), "PCID shows the eject request for slot 2").toBe(1 << 2);
    machine.ioWrite(0xae08, 4, 1 << 2);
  }, BOOT_TIMEOUT_MS + 60_000);

  it("lists the new function in /proc/bus/pci/devices and sysfs, with QEMU's config bytes, resources and IRQ", () => {
    expect([...ours.functions.keys()]).toEqual([...qemu.functions.keys()]);
    expect(ours.functions.get(NEW_FUNCTION)).toEqual(qemu.functions.get(NEW_FUNCTION));
    expect(ours.pciDevices.find((l) => l.startsWith("0010"))).toEqual(qemu.pciDevices.find((l) => l.startsWith("0010")));
  });

  it("prints QEMU's lspci block for it", () => {
    expect(ours.lspci.get("00:02.0")).toEqual(qemu.lspci.get("00:02.0"));
  });

  it("logs QEMU's dmesg lines about the new function", () => {
    const about = (d: GuestDump): string[] => d.dmesg.filter((l) => l.includes("0000:00:02.0"));
    expect(about(ours).length).toBeGreaterThan(0);
    expect(linesOnlyIn(about(qemu), about(ours))).toEqual([]);
    expect(linesOnlyIn(about(ours), about(qemu))).toEqual([]);
  });

  it("completes device_del when the guest ejects the slot", () => {
    expect(deleted).toEqual(["hp1"]);
  });
});
