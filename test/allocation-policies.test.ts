import { describe, expect, it } from "vitest";
import {
  ALLOCATOR_PARAMS,
  Machine,
  allocationPolicy,
  inject,
  prop,
  types,
  type PciDevice,
  type Placement,
  type PolicyParams,
  type SlotAllocator,
} from "../src/index.js";
import { linkLoad } from "../src/machine/policies/irq-balance.js";
import { formatSlotReport, slotReport } from "../src/machine/slots.js";
import { dumpMachineConfig, machineOptionsFromConfig } from "../src/state/machine-config.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { ClassBandsPolicy } from "../docs/examples/class-bands-policy.js";
import { configFixtureNames, loadConfigFixture } from "./support/qemu-fixtures.js";
import { machbus } from "./support/cli.js";

const brokenParams = {
  devfn: prop(types.int, 9999, "what to answer"),
  bus: prop(types.str, "", "bus to answer"),
  add: prop(types.str, "", "spec to add"),
};

/** A deliberately broken policy: answers whatever its parameters say. */
@allocationPolicy({ name: "broken", description: "answers a fixed devfn, right or wrong (tests)", params: brokenParams })
class BrokenPolicy implements SlotAllocator {
  readonly name = "broken";
  constructor(@inject(ALLOCATOR_PARAMS) private readonly p: PolicyParams<typeof brokenParams>) {}
  allocate(): Placement {
    if (!this.p.bus && !this.p.add) return this.p.devfn;
    return { devfn: this.p.devfn, ...(this.p.bus ? { bus: this.p.bus } : {}), ...(this.p.add ? { add: [this.p.add] } : {}) };
  }
}

const slotOf = (m: Machine, id: string): string => m.findDevice(id)!.function.bdf;
const nics = (n: number, driver = "e1000"): string[] => Array.from({ length: n }, (_, i) => `${driver},id=n${i}`);
const lspci = (m: Machine): string => lspciDump(m, 4);

describe("allocation policies", () => {
  it("qemu places every device of every QEMU 7.2 fixture where QEMU put it", () => {
    for (const name of configFixtureNames()) {
      const f = loadConfigFixture(name);
      const devices = f.args.flatMap((a, i) => (a === "-device" ? [f.args[i + 1]!] : []));
      const drives = f.args.flatMap((a, i) => (a === "-drive" ? [f.args[i + 1]!] : []));
      const m = Machine.create({ machine: f.machine, devices, drives, allocator: "qemu" });
      const bus0 = m.rootBus;
      const placed = [...bus0].map((fn) => `00:${(fn.devfn >> 3).toString(16).padStart(2, "0")}.${fn.devfn & 7}`);
      expect(placed, name).toEqual(f.present.filter((b) => b.startsWith("00:")));
    }
  });

  it("an unknown policy is refused with the list of policies; bad parameters name the parameter", () => {
    expect(() => Machine.create({ allocator: "nosuch" })).toThrow(
      "unknown allocation policy 'nosuch' (policies: append-only, auto-bridge, auto-root-port, explicit-first, hotplug-reserve, irq-balance, qemu, random; --allocator help describes them)",
    );
    // The machine's catalogue: the built-in policies plus the ones it is given.
    expect(() => Machine.create({ allocator: "nosuch", policies: [BrokenPolicy] })).toThrow(
      "(policies: append-only, auto-bridge, auto-root-port, broken, explicit-first,",
    );
    expect(() => Machine.create({ allocator: "hotplug-reserve,free=lots" })).toThrow(
      "allocation policy 'hotplug-reserve': parameter 'free' expects a number (decimal, or hex with 0x) (got 'lots')",
    );
    expect(() => Machine.create({ allocator: "hotplug-reserve,free=300" })).toThrow("parameter 'free' expects a value between 0 and 255");
    expect(() => Machine.create({ allocator: "random,sede=1" })).toThrow(
      "allocation policy 'random': unknown parameter 'sede' (valid: seed)",
    );
    expect(() => Machine.create({ allocator: "qemu,x=1" })).toThrow("allocation policy 'qemu': unknown parameter 'x' (it takes none)");
  });

  it("the machine's container builds the policy; the canonical spec leaves defaults out", () => {
    const m = Machine.create({ allocator: "hotplug-reserve,free=0x3" });
    expect(m.allocator.name).toBe("hotplug-reserve");
    expect(m.allocatorSpec).toBe("hotplug-reserve,free=3");
    expect(Machine.create({ allocator: "random,seed=0" }).allocatorSpec).toBe("random");
    expect(Machine.create().allocatorSpec).toBe("qemu");
  });

  describe("the engine checks what a policy answers, naming it", () => {
    it("devfn 9999 and -5 are refused at creation and at hotplug, and the machine is unchanged", () => {
      for (const devfn of [9999, -5, 2.5]) {
        expect(() =>
          Machine.create({ allocator: `broken,devfn=${devfn === 2.5 ? "x" : devfn}`, policies: [BrokenPolicy], devices: ["e1000"] }),
        ).toThrow(
          devfn === 2.5
            ? "parameter 'devfn'"
            : `allocation policy 'broken' returned devfn ${devfn} for e1000: not a devfn (0-255: slot * 8 + function)`,
        );
      }
      const m = Machine.create({ allocator: "broken,devfn=-5", policies: [BrokenPolicy], devices: ["e1000,addr=3"] });
      const before = lspci(m);
      const events: string[] = [];
      m.events.on("device-added", (e) => events.push(e.bdf));
      expect(() => m.addDevice("rtl8139,id=r")).toThrow("allocation policy 'broken' returned devfn -5 for rtl8139 (id r)");
      expect(lspci(m)).toBe(before);
      expect(m.devices().length).toBe(6);
      expect(events).toEqual([]);
    });

    it("a taken, reserved or board-refused slot is refused with the bus's own reason", () => {
      expect(() => Machine.create({ allocator: `broken,devfn=${1 << 3}`, policies: [BrokenPolicy], devices: ["e1000"] })).toThrow(
        "allocation policy 'broken' chose 01.0 on bus pci.0 for e1000: PCI: slot 1 function 0 not available for e1000, in use by PIIX3,id=(null)",
      );
      expect(() =>
        Machine.create({ allocator: `broken,devfn=${(3 << 3) | 1}`, policies: [BrokenPolicy], devices: ["e1000,addr=3", "rtl8139"] }),
      ).toThrow(
        "allocation policy 'broken' chose 03.1 on bus pci.0 for rtl8139: PCI: single function device can't be populated in function 3.1",
      );
    });

    it("a plan naming a bus that does not exist is refused, and what it added is taken out again", () => {
      const before = lspci(Machine.create({ devices: ["e1000,id=a,addr=3"] }));
      const broken = new BrokenPolicy({ devfn: 8, bus: "nowhere", add: "pci-bridge,id=b1,chassis_nr=1,addr=9" });
      const withBroken = Machine.create({ allocator: broken, devices: ["e1000,id=a,addr=3"] });
      expect(() => withBroken.addDevice("rtl8139")).toThrow("allocation policy 'broken': Bus 'nowhere' not found");
      expect(lspci(withBroken)).toBe(before);
      expect(withBroken.devices().map((d) => d.device.id)).not.toContain("b1");
      expect(() =>
        Machine.create({ allocator: "broken,devfn=8,add=pci-bridge,,chassis_nr=1", policies: [BrokenPolicy], devices: ["e1000"] }),
      ).toThrow("allocation policy 'broken' asked to add 'pci-bridge,chassis_nr=1' for e1000: no addr= (a policy places what it adds)");
    });
  });

  it("explicit-first keeps the slot a later explicit device names; qemu gives that slot away first", () => {
    const devices = ["e1000,id=auto", "rtl8139,id=fixed,addr=2"];
    expect(() => Machine.create({ devices })).toThrow("PCI: slot 2 function 0 not available for rtl8139, in use by e1000,id=auto");
    const m = Machine.create({ allocator: "explicit-first", devices });
    expect([slotOf(m, "auto"), slotOf(m, "fixed")]).toEqual(["00:03.0", "00:02.0"]);
  });

  it("append-only never fills a gap a removed device left; qemu does", () => {
    for (const [allocator, expected] of [
      ["qemu", "00:03.0"],
      ["append-only", "00:05.0"],
    ] as const) {
      const m = Machine.create({ allocator, devices: nics(3) });
      m.removeDevice("n1");
      m.addDevice("e1000,id=late");
      expect(slotOf(m, "late"), allocator).toBe(expected);
    }
    const full = Machine.create({ allocator: "append-only", devices: ["e1000,addr=1f"] });
    expect(() => full.addDevice("e1000")).toThrow(
      "PCI: no slot/function available for e1000, all in use or reserved (append-only: no free slot above 1f on bus pci.0)",
    );
  });

  it("irq-balance puts a device on the least used PIRQ link where first fit piles onto one", () => {
    // Slots 3, 4, 6, 0xa, 0xe hold NICs: PIRQ B has three, and first fit's next slot (2) is on B too.
    const fixed = ["3", "4", "6", "a", "e"].map((s, i) => `e1000,id=f${i},addr=${s}`);
    const loads = (allocator: string) => {
      const m = Machine.create({ allocator, devices: [...fixed, "e1000,id=new"] });
      return { slot: slotOf(m, "new"), load: [0, 1, 2, 3].map((l) => linkLoad(m).get(l) ?? 0) };
    };
    expect(loads("qemu")).toEqual({ slot: "00:02.0", load: [1, 4, 1, 1] });
    expect(loads("irq-balance")).toEqual({ slot: "00:05.0", load: [2, 3, 1, 1] });
  });

  it("irq-balance counts functions behind bridges through the swizzle", () => {
    // Behind the bridge in slot 5: slots 1 and 5 INTA swizzle to pin B, which slot 5 maps to PIRQ B;
    // the bridge's own INTA and PIIX4 PM are on PIRQ A. First fit's slot 2 is on PIRQ B.
    const devices = ["pci-bridge,id=br,chassis_nr=1,addr=5", "e1000,bus=br,addr=1", "e1000,bus=br,addr=5"];
    for (const [allocator, slot] of [
      ["qemu", "00:02.0"],
      ["irq-balance", "00:03.0"],
    ] as const) {
      const m = Machine.create({ allocator, devices });
      expect([0, 1, 2, 3].map((l) => linkLoad(m).get(l) ?? 0)).toEqual([2, 2, 0, 0]);
      m.addDevice("e1000,id=x");
      expect(slotOf(m, "x"), allocator).toBe(slot);
    }
  });

  it("hotplug-reserve keeps N hotplug-capable slots for device_add, and slots says which", () => {
    // pc: slots 2-1f are free and hotplug-capable, 30 in all.
    expect(() => Machine.create({ allocator: "hotplug-reserve,free=2", devices: nics(29) })).toThrow(
      "PCI: no slot/function available for e1000, all in use or reserved (hotplug-reserve keeps 2 hotplug-capable slot(s) of bus pci.0 free)",
    );
    const m = Machine.create({ allocator: "hotplug-reserve,free=2", devices: nics(28) });
    const report = formatSlotReport(slotReport(m));
    expect(report).toContain("allocation policy: hotplug-reserve,free=2\n");
    expect(report).toContain(
      "  1e  free, kept free for hotplug by hotplug-reserve\n  1f  free, kept free for hotplug by hotplug-reserve\n",
    );
    m.addDevice("e1000,id=hot1");
    m.addDevice("e1000,id=hot2");
    expect([slotOf(m, "hot1"), slotOf(m, "hot2")]).toEqual(["00:1e.0", "00:1f.0"]);
  });

  describe("auto-bridge", () => {
    it("40 NICs: the root bus fills up to its last slot, which gets a pci-bridge; the rest go behind it from slot 1", () => {
      const m = Machine.create({ allocator: "auto-bridge", devices: nics(40) });
      const bridges = m.devices().filter((d) => d.info.name === "pci-bridge");
      expect(bridges.map((b) => [b.device.id, (b.device as PciDevice).function.devfn >> 3, b.addedBy, b.props.chassis_nr])).toEqual([
        ["pci.1", 0x1f, "auto-bridge", 1],
      ]);
      expect(slotOf(m, "n28")).toBe("00:1e.0");
      expect(m.findDevice("n29")!.function.bus!.name).toBe("pci.1");
      expect([m.findDevice("n29")!.function.devfn >> 3, m.findDevice("n39")!.function.devfn >> 3]).toEqual([1, 11]);
      expect(formatSlotReport(slotReport(m))).toContain("  1f  taken: pci-bridge (id pci.1) at .0 [added by auto-bridge]\n");
      expect(formatSlotReport(slotReport(m))).toContain("  00  free, not used by auto-bridge (slot 0 behind a pci-bridge)\n");
    });

    it("a dump keeps every address and the bridges; reloading builds the same machine", () => {
      const m = Machine.create({ allocator: "auto-bridge", devices: nics(70) });
      const dump = dumpMachineConfig(m);
      expect(dump.allocator).toBe("auto-bridge");
      expect(dump.devices!.filter((d) => d.addedBy === "auto-bridge").map((d) => `${d.bus}/${d.addr}`)).toEqual([
        "pci.0/1f.0",
        "pci.1/1f.0",
      ]);
      const again = Machine.create(machineOptionsFromConfig(dump, "m.yaml"));
      expect(dumpMachineConfig(again)).toEqual(dump);
      expect(lspci(again)).toBe(lspci(m));
      again.addDevice("rtl8139,id=late");
      expect(slotOf(again, "late").slice(3)).toBe("0c.0"); // behind the second bridge, after its 11 NICs
      expect(again.findDevice("late")!.function.bus!.name).toBe("pci.2");
    });

    it("device_add on a full bus adds the bridge first, reported before the device", () => {
      const m = Machine.create({ allocator: "auto-bridge", devices: nics(29) });
      const added: string[] = [];
      m.events.on("device-added", (e) => added.push(`${e.driver}@${e.bdf}`));
      m.addDevice("e1000,id=hot");
      expect(added).toEqual(["pci-bridge@00:1f.0", "e1000@00:01.0"]); // the bridge's bus is not numbered yet
      expect(m.findDevice("hot")!.function.bus!.name).toBe("pci.1");
    });
  });

  it("random: the same seed gives the same addresses, another seed others", () => {
    const place = (allocator: string) => nics(6).map((_, i) => slotOf(Machine.create({ allocator, devices: nics(6) }), `n${i}`));
    expect(place("random,seed=7")).toEqual(place("random,seed=7"));
    expect(place("random,seed=7")).not.toEqual(place("random,seed=8"));
  });

  it("a user's own policy plugs in through DI with no core change (docs/examples/class-bands-policy.ts)", () => {
    const m = Machine.create({
      allocator: "class-bands,network=10-12",
      policies: [ClassBandsPolicy],
      devices: ["e1000,id=nic", "virtio-blk-pci,id=disk,drive=d", "VGA,id=vga", "rtl8139,id=nic2"],
      drives: ["if=none,id=d,file=x.img"],
    });
    expect(["nic", "disk", "vga", "nic2"].map((id) => slotOf(m, id))).toEqual(["00:10.0", "00:18.0", "00:02.0", "00:11.0"]);
    expect(() => Machine.create({ allocator: "class-bands,storage=20-30", policies: [ClassBandsPolicy] })).toThrow(
      "allocation policy 'class-bands': parameter 'storage' expects a slot range LO-HI in hex, e.g. 10-17, or none (got '20-30')",
    );
  });

  it("--allocator on the CLI: auto-bridge builds the bridges, a bad name or parameter is one line and exit 1", () => {
    const r = machbus(["slots", "--allocator", "auto-bridge", ...nics(40).flatMap((d) => ["--device", d])]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("bus pci.1 (number 0): 21 free slots (00, 0c-1f)\n");
    for (const [allocator, message] of [
      [
        "nosuch",
        "machbus: unknown allocation policy 'nosuch' (policies: append-only, auto-bridge, auto-root-port, explicit-first, hotplug-reserve, irq-balance, qemu, random; --allocator help describes them)\n",
      ],
      [
        "hotplug-reserve,free=-1",
        "machbus: allocation policy 'hotplug-reserve': parameter 'free' expects a value between 0 and 255 (got '-1')\n",
      ],
    ]) {
      const bad = machbus(["info", "pci", "--allocator", allocator!]);
      expect([bad.status, bad.stdout, bad.stderr]).toEqual([1, "", message]);
    }
    expect(machbus(["info", "pci", "--allocator", "help"]).stdout).toMatch(/^ {2}hotplug-reserve +keeps N hotplug-capable slots/m);
  });
});
