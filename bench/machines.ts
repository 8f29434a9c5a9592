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

/** Root slots the pc chipset leaves free (0 is the host bridge, 1 PIIX3). */
const ROOT_FREE_SLOTS = 30;
/** Level-1 buses keep their first slots for level-2 bridges; the rest hold devices. */
const LEVEL2_PER_LEVEL1 = 4;

/**
 * A machine of `targetFunctions` device functions (exactly, bridges not counted): 8-function
 * multifunction e1000s filling every slot of buses two bridges deep. Each bridge on the root
 * bus leads to a bus whose first 4 slots hold bridges and whose other 28 hold devices; each of
 * those 4 bridges leads to a bus of 32 devices. Bridges are added only as the count needs them,
 * so N and 2N functions give machines of the same shape (the bench builds both).
 */
export function functionMachineSpecs(targetFunctions: number): string[] {
  const level1Slots = 32 - LEVEL2_PER_LEVEL1;
  const perLevel1 = 8 * (level1Slots + LEVEL2_PER_LEVEL1 * 32);
  if (targetFunctions > ROOT_FREE_SLOTS * perLevel1) throw new Error(`at most ${ROOT_FREE_SLOTS * perLevel1} functions fit`);
  const specs: string[] = [];
  let left = targetFunctions;
  let chassis = 1;
  const fillBus = (bus: string, firstSlot: number): void => {
    for (let slot = firstSlot; slot < 32 && left > 0; slot++) {
      const count = Math.min(8, left);
      for (let fn = 0; fn < count; fn++) {
        specs.push(`e1000,bus=${bus},addr=${slot.toString(16)}.${fn}${fn === 0 && count > 1 ? ",multifunction=on" : ""}`);
      }
      left -= count;
    }
  };
  for (let b = 0; left > 0; b++) {
    const level1 = `l1b${b}`;
    specs.push(`pci-bridge,id=${level1},chassis_nr=${chassis++}`);
    for (let s = 0; s < LEVEL2_PER_LEVEL1 && left > 0; s++) {
      const level2 = `l2b${b}s${s}`;
      specs.push(`pci-bridge,id=${level2},chassis_nr=${chassis++},bus=${level1},addr=${s.toString(16)}`);
      fillBus(level2, 0);
    }
    fillBus(level1, LEVEL2_PER_LEVEL1);
  }
  return specs;
}
