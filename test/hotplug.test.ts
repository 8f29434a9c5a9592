import { describe, expect, it } from "vitest";
import { Machine, type DeviceEvent } from "../src/index.js";
import { Monitor } from "../src/monitor/monitor.js";

describe("hotplug and unplug", () => {
  it("device_add places a device in the first free slot and reports it; device_del removes it", () => {
    const m = Machine.create();
    const added: DeviceEvent[] = [];
    const deleted: DeviceEvent[] = [];
    m.events.on("device-added", (e) => added.push(e));
    m.events.on("device-deleted", (e) => deleted.push(e));
    const monitor = new Monitor(m);
    expect(monitor.execute("device_add virtio-net-pci,id=n1").output).toBe("");
    expect(added).toEqual([{ id: "n1", driver: "virtio-net-pci", bdf: "00:02.0" }]);
    expect(m.configRead(0, 2 << 3, 0)).toBe(0x10001af4);
    expect(monitor.execute("device_del n1").output).toBe("");
    expect(deleted).toEqual([{ id: "n1", driver: "virtio-net-pci", bdf: "00:02.0" }]);
    expect(m.configRead(0, 2 << 3, 0)).toBe(0xffffffff);
  });

  it("the chipset's slots refuse new devices, in QEMU's words, and nothing changes", () => {
    const m = Machine.create();
    const monitor = new Monitor(m);
    const before = m.devices().length;
    expect(monitor.execute("device_add virtio-net-pci,addr=1").output).toBe(
      "Error: PCI: slot 1 function 0 not available for virtio-net-pci, in use by PIIX3,id=(null)\n",
    );
    expect(monitor.execute("device_add virtio-net-pci,addr=1.2").output).toBe(
      "Error: PCI: slot 1 function 0 already occupied by PIIX3, new func virtio-net-pci cannot be exposed to guest.\n",
    );
    expect(m.devices().length).toBe(before);
  });

  it("devices that cannot be hot-plugged are refused at run time but accepted on the command line", () => {
    const m = Machine.create({ devices: ["VGA"] });
    expect(m.configRead(0, 2 << 3, 0)).toBe(0x11111234);
    expect(() => m.addDevice("cirrus-vga")).toThrow(
      "Parameter 'driver' expects a pluggable device type ('cirrus-vga' can't be hot-plugged)",
    );
  });

  it("function 0 of a multifunction slot cannot be removed while other functions are populated", () => {
    const m = Machine.create({ devices: ["virtio-net-pci,id=f0,addr=5.0,multifunction=on", "virtio-net-pci,id=f1,addr=5.1"] });
    expect(() => m.removeDevice("f0")).toThrow("Device 'f0': function 0 of slot 5 can't be removed while functions 1-7 are populated");
    m.removeDevice("f1");
    m.removeDevice("f0");
    expect(m.configRead(0, 5 << 3, 0)).toBe(0xffffffff);
  });

  it("a hot-plugged device gets the next default MAC, and an unplugged one gives its MAC back", () => {
    const m = Machine.create({ devices: ["virtio-net-pci,id=a"] });
    const mac = (id: string) => (m.findDevice(id) as unknown as { macAddress: string }).macAddress;
    m.addDevice("virtio-net-pci,id=b");
    expect([mac("a"), mac("b")]).toEqual(["52:54:00:12:34:56", "52:54:00:12:34:57"]);
    m.removeDevice("b");
    m.addDevice("virtio-net-pci,id=c");
    expect(mac("c")).toBe("52:54:00:12:34:57");
  });
});
