import { Machine } from "../src/index.js";

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

/** About 1,000 functions: four bridges, each slot a multifunction e1000 with 8 functions. */
export function thousandFunctionSpecs(): string[] {
  const specs: string[] = [];
  for (let b = 0; b < 4; b++) {
    specs.push(`pci-bridge,id=br${b},chassis_nr=${b + 1}`);
    for (let slot = 0; slot < 32; slot++) {
      for (let fn = 0; fn < 8; fn++) {
        specs.push(`e1000,bus=br${b},addr=${slot.toString(16)}.${fn}${fn === 0 ? ",multifunction=on" : ""}`);
      }
    }
  }
  return specs;
}
