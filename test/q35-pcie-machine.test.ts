import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import type { MachbusError } from "../src/errors.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { queryPci } from "../src/pci/query-pci.js";
import { dumpMachineConfig, formatMachineConfig, machineOptionsFromConfig } from "../src/state/machine-config.js";
import { compareMachines, migrationStream, receiveMigration } from "../src/state/migration.js";
import { machbus } from "./support/cli.js";

/** q35 with PCI Express devices through the whole product: placement, reports, dumps, snapshots, migration. */
const RP_E1000E = ["pcie-root-port,id=rp1,chassis=1", "e1000e,id=nic,bus=rp1"];
const TOPOLOGY = [
  ...RP_E1000E,
  "pcie-root-port,id=rp2,chassis=2",
  "virtio-net-pci,id=vn,bus=rp2",
  "ioh3420,id=rp3,chassis=3",
  "pcie-pci-bridge,id=br,bus=rp3",
  "e1000,id=old,bus=br,addr=1",
];

/** Gives the root ports and the bridge their buses (1, 2, 3 and 4), as firmware would. */
function numbered(devices = TOPOLOGY): Machine {
  const m = Machine.create({ machine: "q35", devices });
  m.configWrite(0, 0x08, 0x18, 4, 0x00010100);
  m.configWrite(0, 0x10, 0x18, 4, 0x00020200);
  m.configWrite(0, 0x18, 0x18, 4, 0x00040300);
  m.configWrite(3, 0, 0x18, 4, 0x00040403);
  return m;
}

describe("lspci -F decodes machbus's q35 dumps: PCI Express and extended capabilities", () => {
  it("the root port's and the e1000e's capabilities, from `machbus lspci -xxxx -M q35` (buses numbered as firmware does)", () => {
    const r = machbus(["lspci", "-xxxx", "-M", "q35", "--device", "pcie-root-port,id=rp1,chassis=1", "--device", "e1000e,bus=rp1"]);
    expect(r.status).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), "machbus-lspci-")), "d");
    writeFileSync(file, r.stdout);
    const decoded = execFileSync("lspci", ["-F", file, "-vv"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    for (const line of [
      "00:01.0 PCI bridge: Red Hat, Inc. QEMU PCIe Root port",
      "\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0",
      "\tCapabilities: [54] Express (v2) Root Port (Slot+), MSI 00",
      "\t\tSltCap:\tAttnBtn+ PwrCtrl+ MRL- AttnInd+ PwrInd+ HotPlug+ Surprise+",
      "\t\tLnkCap:\tPort #0, Speed 16GT/s, Width x32, ASPM L0s, Exit Latency L0s <64ns",
      "\tCapabilities: [48] MSI-X: Enable- Count=1 Masked-",
      "\tCapabilities: [100 v2] Advanced Error Reporting",
      "\tCapabilities: [148 v1] Access Control Services",
      "01:00.0 Ethernet controller: Intel Corporation 82574L Gigabit Network Connection",
      "\tCapabilities: [e0] Express (v1) Endpoint, MSI 00",
      "\tCapabilities: [a0] MSI-X: Enable- Count=5 Masked-",
      "\tCapabilities: [140 v1] Device Serial Number 52-54-00-ff-ff-12-34-56",
    ]) {
      expect(
        decoded.split("\n").some((l) => l.startsWith(line)),
        line,
      ).toBe(true);
    }
  });
});

describe("the auto-root-port allocation policy (libvirt's placement on q35)", () => {
  it("each endpoint gets a pcie-root-port of its own and sits at its slot 0, made for that bus (a PCIe endpoint, virtio modern-only)", () => {
    const m = Machine.create({ machine: "q35", allocator: "auto-root-port", devices: ["e1000e,id=a", "virtio-net-pci,id=b"] });
    const ports = m.devices().filter((d) => d.addedBy === "auto-root-port" || d.device.driver === "pcie-root-port");
    expect(ports.map((p) => `${p.device.id}@${(p.device as { function: { bdf: string } }).function.bdf}`)).toEqual([
      "pci.1@00:01.0",
      "pci.2@00:02.0",
    ]);
    expect(m.findDevice("a")!.function.bus!.name).toBe("pci.1");
    expect(m.findDevice("b")!.function.devfn).toBe(0);
    // The same machine as QEMU builds from libvirt's explicit command line.
    const explicit = Machine.create({
      machine: "q35",
      devices: [
        "pcie-root-port,id=pci.1,chassis=1,port=0x10,addr=1",
        "e1000e,id=a,bus=pci.1,addr=0",
        "pcie-root-port,id=pci.2,chassis=2,port=0x11,addr=2",
        "virtio-net-pci,id=b,bus=pci.2,addr=0",
      ],
    });
    for (const mm of [m, explicit]) {
      mm.configWrite(0, 0x08, 0x18, 4, 0x00010100);
      mm.configWrite(0, 0x10, 0x18, 4, 0x00020200);
    }
    expect(lspciDump(m, 4)).toBe(lspciDump(explicit, 4));
    expect(m.configRead(2, 0, 0)).toBe(0x10411af4); // modern-only virtio-net
    expect((m.configRead(1, 0, 0xe0) >>> 16) & 0xf0).toBe(0x00); // a PCIe endpoint, not an integrated one
  });

  it("a second device on a port's bus is refused naming the port, and nothing changes", () => {
    const m = Machine.create({
      machine: "q35",
      allocator: "auto-root-port",
      devices: ["pcie-root-port,id=rp1,chassis=1", "e1000e,bus=rp1"],
    });
    const before = lspciDump(m, 4);
    expect(() => m.addDevice("e1000e,id=second,bus=rp1")).toThrow(
      "PCI: no slot/function available for e1000e, all in use or reserved (auto-root-port: rp1 is a PCIe port, whose one slot holds e1000e)",
    );
    expect(m.findDevice("second")).toBeUndefined();
    expect(lspciDump(m, 4)).toBe(before);
  });

  it("device_add without a bus cannot add a root port on pcie.0 (no hotplug there): refused, nothing half-applied", () => {
    const m = Machine.create({ machine: "q35", allocator: "auto-root-port" });
    const count = m.devices().length;
    let message = "";
    try {
      m.addDevice("e1000e,id=late");
    } catch (e) {
      message = (e as MachbusError).message;
    }
    expect(message).toContain("Bus 'pcie.0' does not support hotplugging");
    expect(m.devices().length).toBe(count);
    expect(m.buses().map((b) => b.name)).toEqual(["pcie.0"]);
  });

  it("a dump records the ports it added; reloading builds the same machine, byte for byte", () => {
    const m = Machine.create({
      machine: "q35",
      allocator: "auto-root-port",
      devices: ["e1000e,id=a", "virtio-net-pci,id=b", "e1000,id=c"],
    });
    const dump = dumpMachineConfig(m);
    expect(dump.devices!.filter((d) => d.addedBy === "auto-root-port").map((d) => `${d.id}@${d.bus}/${d.addr}`)).toEqual([
      "pci.1@pcie.0/01.0",
      "pci.2@pcie.0/02.0",
      "pci.3@pcie.0/03.0",
    ]);
    const again = Machine.create(machineOptionsFromConfig(dump, "m.yaml"));
    expect(dumpMachineConfig(again)).toEqual(dump);
    expect(lspciDump(again, 4)).toBe(lspciDump(m, 4));
  });
});

describe("QEMU's placement errors on PCI Express (fixtures/qemu/q35/errors.json has the texts)", () => {
  it("a missing bus and a taken slot 0 of a root port: QEMU's words, and no machine", () => {
    expect(() => Machine.create({ machine: "q35", devices: ["e1000e,bus=nosuch"] })).toThrow("Bus 'nosuch' not found");
    expect(() =>
      Machine.create({ machine: "q35", devices: [...RP_E1000E.slice(0, 1), "e1000e,bus=rp1,addr=0", "e1000e,bus=rp1,addr=0"] }),
    ).toThrow("PCI: slot 0 function 0 not available for e1000e, in use by e1000e,id=(null)");
  });

  it("a device at slot 1 of a root port is accepted, as QEMU does, but the guest never sees it: the port powers its empty slot 0 off", () => {
    const m = numbered(["pcie-root-port,id=rp1,chassis=1", "e1000e,id=n,bus=rp1,addr=1"]);
    expect(m.findDevice("n")!.function.bdf).toBe("01:01.0");
    expect(m.configRead(1, 0x08, 0)).toBe(0xffffffff);
    expect(m.configRead(0, 0x08, 0x6c) & 0x0400).toBe(0x0400); // power controller off
  });
});

describe("reports, dumps, snapshots and migration on q35 with root ports, a pcie-pci-bridge and endpoints", () => {
  it("query-pci has the hierarchy: bridges with their buses and the devices below them", () => {
    const m = numbered();
    const root = queryPci(m)[0]!;
    const port = root.devices.find((d) => d.qdev_id === "rp1")!;
    expect(port.pci_bridge?.bus.secondary).toBe(1);
    expect(port.pci_bridge?.devices?.map((d) => d.qdev_id)).toEqual(["nic"]);
    const ioh = root.devices.find((d) => d.qdev_id === "rp3")!;
    const bridge = ioh.pci_bridge!.devices!.find((d) => d.qdev_id === "br")!;
    expect(bridge.pci_bridge?.devices?.map((d) => [d.qdev_id, d.slot])).toEqual([["old", 1]]);
  });

  it("dump-config and reload give the same machine, 4 KiB config spaces included", () => {
    const m = Machine.create({ machine: "q35", devices: TOPOLOGY });
    const dump = dumpMachineConfig(m);
    const again = Machine.create(machineOptionsFromConfig(dump, "m.yaml"));
    expect(formatMachineConfig(dumpMachineConfig(again))).toBe(formatMachineConfig(dump));
    expect(lspciDump(again, 4)).toBe(lspciDump(m, 4));
  });

  it("a snapshot brings back bus numbers, slot state (power, presence, events) and extended config", () => {
    const globals = ["ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"];
    const src = Machine.create({ machine: "q35", devices: ["pcie-root-port,id=rp1,chassis=1"], globals });
    src.configWrite(0, 0x08, 0x18, 4, 0x00010100);
    src.configWrite(0, 0x08, 0x6c, 2, 0x07f9);
    src.addDevice("e1000e,id=nic,bus=rp1");
    src.configWrite(0, 0x08, 0x6c, 2, 0x01f9); // powered on
    src.configWrite(1, 0, 0x104, 4, 0xffffffff); // AER uncorrectable status: write-1-to-clear, stays 0
    src.configWrite(1, 0, 0x10c, 4, 0x00001000);
    const dst = Machine.create({ machine: "q35", devices: ["pcie-root-port,id=rp1,chassis=1", "e1000e,id=nic,bus=rp1"], globals });
    dst.load(src.save());
    expect(lspciDump(dst, 4)).toBe(lspciDump(src, 4));
    expect(formatInfoPci(dst)).toBe(formatInfoPci(src));
    expect(dst.configRead(1, 0, 0)).toBe(0x10d38086);
    // The slot goes on from the loaded state: the guest's power-off completes an unplug.
    dst.removeDevice("nic");
    dst.configWrite(0, 0x08, 0x6c, 2, 0x07f9);
    expect(dst.findDevice("nic")).toBeUndefined();
  });

  it("migration: the stream rebuilds the machine on the destination; compareMachines names a root port whose chassis differs", () => {
    const src = numbered();
    const dst = receiveMigration(migrationStream(src));
    expect(lspciDump(dst, 4)).toBe(lspciDump(src, 4));
    expect(compareMachines(src, dst)).toEqual([]);
    const other = Machine.create({ machine: "q35", devices: TOPOLOGY.map((d) => d.replace("id=rp2,chassis=2", "id=rp2,chassis=7")) });
    expect(compareMachines(src, other)).toEqual(["pcie-root-port,id=rp2 at pcie.0:02.0: chassis = 2 on the source, 7 on the destination"]);
  });
});
