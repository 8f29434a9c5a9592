import type { Ich9Lpc } from "../devices/ich9-lpc.js";
import "../devices/fw-cfg.js";
import "../devices/q35-chipset.js";
import { machineTypes, type Board } from "../src/machine/machine-type.js";
import { pciSlot } from "../src/pci/constants.js";
import { Q35_DESCRIPTION, Q35_VERSIONS } from "./q35-compat.js";

/**
 * The q35 board as `qemu-system-x86_64 -M q35 -nodefaults` builds it: the PCI Express root bus
 * pcie.0 (config cycles through 0xCF8/0xCFC, and ECAM where the MCH's PCIEXBAR puts it), the MCH
 * at 00.0, and the ICH9 functions -nodefaults leaves: LPC at 1f.0 (the ISA bus and the interrupt
 * router), AHCI at 1f.2 and SMBus at 1f.3. The root bus takes no hotplug, as on QEMU.
 */
export const q35Board: Board = {
  name: "q35",
  properties: {},
  build(machine) {
    let lpc: Ich9Lpc | null = null;
    // ICH9 decides which PIRQ link each slot's pins drive (QEMU's ich9_lpc_map_irq).
    const root = machine.createRootBus((fn, pin) => lpc!.pirqOf(pciSlot(fn.devfn), pin), { name: "pcie.0", express: true });
    root.hotpluggable = false;
    machine.addOnboardDevice("mch,addr=00.0");
    lpc = machine.addOnboardDevice("ICH9-LPC,addr=1f.0,multifunction=on") as Ich9Lpc;
    machine.isaBus = "isa.0";
    machine.addOnboardDevice("ich9-ahci,addr=1f.2,multifunction=on");
    machine.addOnboardDevice("ICH9-SMB,addr=1f.3,multifunction=on");
    machine.addOnboardDevice("fw_cfg_io,x-board=q35");
  },
};

/** pc-q35-7.2 (alias q35) and every older version QEMU 7.2 lists, each a compat delta over the next newer one. */
machineTypes.register({ name: "pc-q35-7.2", aliases: ["q35"], description: Q35_DESCRIPTION, board: q35Board });
let newer = "pc-q35-7.2";
for (const v of Q35_VERSIONS) {
  const name = `pc-q35-${v.version}`;
  machineTypes.register({ name, description: v.description, board: q35Board, newer, compat: v.compat });
  newer = name;
}
