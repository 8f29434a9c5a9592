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
 * must be what it sees on QEMU 7.2. In a second boot device_del follows once the guest has the
 * new function: PIIX4 raises the eject request, acpiphp ejects the slot (the DSDT's _EJ0 writes
 * the eject register) and only then does the device leave, as on QEMU.
 */
const FIXTURES = new URL("./fixtures/linux/", import.meta.url);
const WAITING = "=== machbus-guest: waiting-for-hotplug ===";
const AFTER = "=== machbus-guest: after-hotplug ===";
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
});

describe("device_del of a hot-plugged e1000 completes when Linux ejects the slot", () => {
  const record = JSON.parse(readFileSync(new URL("hotplug-e1000.json", FIXTURES), "utf8")) as HotplugRecord;
  const events: string[] = [];

  beforeAll(async () => {
    expect(guest, "no Linux guest in the cache: run node test/setup/linux-guest.mjs").not.toBeNull();
    await bootLinuxGuest(guest as LinuxGuest, { devices: record.devices }, record.cmdline, {
      until: END,
      timeoutMs: BOOT_TIMEOUT_MS,
      onOutput: (line, machine) => {
        if (line.includes(WAITING)) {
          machine.events.on("device-deleted", ({ id }) => events.push(`deleted ${id}`));
          machine.addDevice(record.hotplug);
        }
        if (line.includes(AFTER)) {
          machine.removeDevice("hp1"); // the guest has the function now: ask it to let go
          events.push(machine.findDevice("hp1") ? "requested" : "gone at once");
        }
        if (line.includes(END)) events.push("end");
      },
    });
  }, BOOT_TIMEOUT_MS + 60_000);

  it("keeps the device until the guest's _EJ0, which comes before the guest's dump ends", () => {
    expect(events).toEqual(["requested", "deleted hp1", "end"]);
  });
});
