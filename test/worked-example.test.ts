import { describe, expect, it } from "vitest";
import { AcmeWatchdog, acmeMachine } from "../docs/examples/acme-board.js";
import { Machine } from "../src/index.js";

describe("worked example: our own device and machine type (docs/examples/acme-board.ts)", () => {
  it("the watchdog goes into the slot the board keeps for it", () => {
    const m = acmeMachine("acme-1.0", ["acme-watchdog,id=wd"]);
    expect(m.findDevice("wd")!.function.bdf).toBe("00:02.0");
    expect(m.configRead(0, 2 << 3, 0)).toBe(0xa0a01234);
  });

  it("the allocator skips the dedicated, reserved and absent slots for other devices", () => {
    // 24 wired slots less the chipset's two, the watchdog's and the BMC's: room for 20.
    const devices = Array.from({ length: 21 }, (_, i) => `pci-bridge,chassis_nr=${i + 1},id=b${i}`);
    expect(() => acmeMachine("acme-1.0", devices)).toThrow("PCI: no slot/function available for pci-bridge, all in use or reserved");
    const m = acmeMachine("acme-1.0", devices.slice(0, 20));
    const slots = devices.slice(0, 20).map((_, i) => m.findDevice(`b${i}`)!.function.devfn >> 3);
    expect(slots).not.toContain(2);
    expect(slots).not.toContain(0x10);
    expect(Math.max(...slots)).toBe(0x17);
  });

  it("board rules explain themselves when an explicit address breaks them", () => {
    expect(() => acmeMachine("acme-1.0", ["pci-bridge,chassis_nr=1,addr=2"])).toThrow(
      "PCI: slot 2 function 0 not available for pci-bridge, reserved for acme-watchdog (watchdog header)",
    );
    expect(() => acmeMachine("acme-1.0", ["pci-bridge,chassis_nr=1,addr=0x10"])).toThrow(
      "PCI: slot 16 function 0 not available for pci-bridge, reserved (baseboard management controller)",
    );
    expect(() => acmeMachine("acme-1.0", ["pci-bridge,chassis_nr=1,addr=0x18"])).toThrow(
      "PCI: slot 24 does not exist on bus pci.0 of this board",
    );
  });

  it("slots 3-7 refuse hotplug; the others take it", () => {
    const m = acmeMachine("acme-1.0");
    expect(() => m.addDevice("pci-bridge,chassis_nr=1,addr=3")).toThrow("PCI: slot 3 of bus pci.0 does not support hotplug");
    m.addDevice("pci-bridge,chassis_nr=1,addr=8,id=hot");
    expect(m.findDevice("hot")!.function.bdf).toBe("00:08.0");
  });

  it("the device works through real config cycles and MMIO: it fires INTA and a kick clears it", () => {
    const m = acmeMachine("acme-1.0", ["acme-watchdog,id=wd,timeout=3"]);
    const links: boolean[] = [];
    m.events.on("intx", (e) => links.push(e.level));
    m.configWrite(0, 2 << 3, 0x10, 4, 0xfe000000);
    m.configWrite(0, 2 << 3, 0x04, 2, 0x0002);
    const wd = m.findDevice("wd") as AcmeWatchdog;
    wd.tick();
    expect(m.memRead(0xfe000000, 4)).toBe(2);
    wd.tick();
    wd.tick();
    expect(links).toEqual([true]);
    m.memWrite(0xfe000004, 4, 1);
    expect(links).toEqual([true, false]);
    expect(m.memRead(0xfe000000, 4)).toBe(3);
  });

  it("the watchdog's counter is described state: a snapshot brings it back, and the interrupt with it", () => {
    const m = acmeMachine("acme-1.0", ["acme-watchdog,id=wd,timeout=3"]);
    m.configWrite(0, 2 << 3, 0x10, 4, 0xfe000000);
    m.configWrite(0, 2 << 3, 0x04, 2, 0x0002);
    const wd = m.findDevice("wd") as AcmeWatchdog;
    wd.tick();
    const copy = acmeMachine("acme-1.0", ["acme-watchdog,id=wd,timeout=3"]);
    copy.load(m.save());
    expect(copy.memRead(0xfe000000, 4)).toBe(2);
    const links: boolean[] = [];
    copy.events.on("intx", (e) => links.push(e.level));
    (copy.findDevice("wd") as AcmeWatchdog).tick();
    (copy.findDevice("wd") as AcmeWatchdog).tick();
    expect(links).toEqual([true]);
  });

  it("an older version of the machine type keeps the old default through its compat properties", () => {
    const old = acmeMachine("acme-0.9", ["acme-watchdog,id=wd"]);
    expect(old.placement(old.findDevice("wd")!)!.props.timeout).toBe(5);
    const explicit = acmeMachine("acme-0.9", ["acme-watchdog,id=wd,timeout=7"]);
    expect(explicit.placement(explicit.findDevice("wd")!)!.props.timeout).toBe(7);
  });

  it("the watchdog and the ACME types exist only for the machines given them", () => {
    expect(() => Machine.create({ devices: ["acme-watchdog"] })).toThrow("'acme-watchdog' is not a valid device model name");
    expect(() => Machine.create({ machine: "acme-1.0" })).toThrow("unsupported machine type 'acme-1.0'");
    expect(() => acmeMachine("pc")).toThrow("unsupported machine type 'pc'");
  });
});
