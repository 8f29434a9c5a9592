import { FwCfgIo } from "../devices/fw-cfg.js";
import { Ich9Ahci, Ich9Lpc, Ich9Smbus, Mch } from "../devices/q35-chipset.js";
import type { Board, MachineTypeDefinition } from "../src/machine/machine-type.js";
import { pciSlot } from "../src/pci/constants.js";
import { pcCmosMemory } from "./pc.js";
import { Q35_DESCRIPTION, Q35_VERSIONS } from "./q35-compat.js";

/** q35's RAM split (QEMU's pc_q35_init): below 4 GiB room for the PCI hole and MMCONFIG at 0xb0000000. */
const Q35_LOWMEM = 0xb000_0000;
/** From that much RAM on, 2 GiB stay below 4 GiB (gigabyte alignment). */
const Q35_LOWMEM_SPLIT = 0x8000_0000;

/**
 * The q35 board as `qemu-system-x86_64 -M q35 -nodefaults` builds it: the PCI Express root bus
 * pcie.0 (config cycles through 0xCF8/0xCFC, and ECAM where the MCH's PCIEXBAR puts it), the MCH
 * at 00.0, and the ICH9 functions -nodefaults leaves: LPC at 1f.0 (the ISA bus and the interrupt
 * router), AHCI at 1f.2 and SMBus at 1f.3. The root bus takes no hotplug, as on QEMU.
 */
export const q35Board: Board = {
  name: "q35",
  properties: {},
  drivers: [Mch, Ich9Lpc, Ich9Ahci, Ich9Smbus, FwCfgIo],
  // QEMU's default: a -drive without if= is an IDE drive (an AHCI port's). The AHCI ports have no
  // buses here yet, so such a drive is refused ("machine type does not support") rather than lost.
  driveInterface: "ide",
  build(machine) {
    let lpc: Ich9Lpc | null = null;
    // ICH9 decides which PIRQ link each slot's pins drive (QEMU's ich9_lpc_map_irq).
    const root = machine.createRootBus((fn, pin) => lpc!.pirqOf(pciSlot(fn.devfn), pin), { name: "pcie.0", express: true });
    root.hotpluggable = false;
    machine.addOnboardDevice("mch,addr=00.0");
    lpc = machine.addOnboardDevice("ICH9-LPC,addr=1f.0,multifunction=on") as Ich9Lpc;
    if (lpc.acpiPciHotplug) root.acpiHotplug = { keepSlotHpc: lpc.keepPciSlotHpc };
    machine.isaBus = "isa.0";
    machine.addOnboardDevice("ich9-ahci,addr=1f.2,multifunction=on");
    machine.addOnboardDevice("ICH9-SMB,addr=1f.3,multifunction=on");
    const fwCfg = machine.addOnboardDevice("fw_cfg_io") as FwCfgIo;
    for (const [name, data] of lpc.fwCfgFiles()) fwCfg.addFile(name, data);
  },
  ramBelow4g(ramSize) {
    return ramSize >= Q35_LOWMEM ? Q35_LOWMEM_SPLIT : ramSize;
  },
  // The CMOS memory bytes come from the same code as on pc (QEMU's pc_cmos_init).
  cmosBytes: pcCmosMemory,
};

/**
 * pc-q35-7.2 (alias q35) and every older version QEMU 7.2 lists, each a delta over the next
 * newer one: compat properties and machine-class fields (machines/q35-compat.ts).
 */
export const q35MachineTypes: readonly MachineTypeDefinition[] = [
  { name: "pc-q35-7.2", aliases: ["q35"], description: Q35_DESCRIPTION, board: q35Board },
  ...Q35_VERSIONS.map((v, i) => ({
    name: `pc-q35-${v.version}`,
    description: v.description,
    board: q35Board,
    newer: i === 0 ? "pc-q35-7.2" : `pc-q35-${Q35_VERSIONS[i - 1]!.version}`,
    compat: v.compat,
    classFields: v.classFields,
  })),
];
