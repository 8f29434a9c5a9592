import { Machine, type PciBus } from "../src/index.js";

/** Every device of the catalogue, once: the config-read benchmark's full machine. */
export const CATALOGUE_DEVICES = [
  "piix3-usb-uhci",
  "VGA",
  "cirrus-vga",
  "e1000",
  "rtl8139",
  "ne2k_pci",
  "virtio-net-pci",
  "virtio-blk-pci,drive=disk0",
  "virtio-serial-pci",
  "virtio-balloon-pci",
  "lsi53c895a",
  "intel-hda",
  "pci-bridge,chassis_nr=1",
];

export function catalogueMachine(): Machine {
  return Machine.create({ devices: CATALOGUE_DEVICES, drives: ["if=none,id=disk0,file=/dev/null"] });
}

/**
 * A full pc: the 30 root slots the chipset leaves free hold 8 bridges and 22 devices (31
 * devices with PIIX3), and every slot behind each bridge holds a device: the shape of a big
 * slot-allocation experiment.
 */
export function fullPcSpecs(): string[] {
  const specs: string[] = [];
  for (let b = 0; b < 8; b++) specs.push(`pci-bridge,id=br${b},chassis_nr=${b + 1}`);
  for (let slot = 0; slot < 22; slot++) specs.push(slot % 2 ? "e1000" : "virtio-net-pci");
  for (let b = 0; b < 8; b++) {
    for (let slot = 0; slot < 32; slot++)
      specs.push(`${slot % 3 === 0 ? "rtl8139" : slot % 3 === 1 ? "e1000" : "virtio-net-pci"},bus=br${b}`);
  }
  return specs;
}

/** `slots` multifunction e1000s of 8 functions each on `bus`, from slot 0 up. */
function e1000Slots(specs: string[], bus: string, slots: number): void {
  for (let slot = 0; slot < slots; slot++) {
    for (let fn = 0; fn < 8; fn++) specs.push(`e1000,bus=${bus},addr=${slot.toString(16)}.${fn}${fn === 0 ? ",multifunction=on" : ""}`);
  }
}

/**
 * About 10,000 functions, bridges behind bridges: 8 bridges on the root bus, each with 4 bridges
 * in its slots 28-31 and an 8-function e1000 in each of its slots 0-27, each of those 4 bridges
 * with an 8-function e1000 in all 32 slots (10,028 functions with the chipset).
 */
export function tenThousandFunctionSpecs(): string[] {
  const specs: string[] = [];
  let chassis = 1;
  for (let b = 0; b < 8; b++) {
    const bridge = `br${b}`;
    specs.push(`pci-bridge,id=${bridge},chassis_nr=${chassis++}`);
    for (let k = 0; k < 4; k++) {
      const inner = `${bridge}.${k}`;
      specs.push(`pci-bridge,id=${inner},bus=${bridge},addr=${(28 + k).toString(16)},chassis_nr=${chassis++}`);
      e1000Slots(specs, inner, 32);
    }
    e1000Slots(specs, bridge, 28);
  }
  return specs;
}

/** Numbers every bridge depth first, as firmware does: secondary buses 1, 2, ..., each subordinate covering its children. */
export function numberBridges(machine: Machine): void {
  let next = 1;
  const visit = (bus: PciBus): void => {
    for (const fn of bus) {
      if (!fn.isBridge) continue;
      const secondary = next++;
      fn.write(0x18, (bus.number | (secondary << 8) | (0xff << 16)) >>> 0, 4, 256);
      const child = machine.rootBus.findBus(secondary);
      if (child) visit(child);
      fn.write(0x1a, next - 1, 1, 256);
    }
  };
  visit(machine.rootBus);
}

/** About 1,000 functions: four bridges, each slot a multifunction e1000 with 8 functions. */
export function thousandFunctionSpecs(): string[] {
  const specs: string[] = [];
  for (let b = 0; b < 4; b++) {
    specs.push(`pci-bridge,id=br${b},chassis_nr=${b + 1}`);
    e1000Slots(specs, `br${b}`, 32);
  }
  return specs;
}
