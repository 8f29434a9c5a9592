import type { Board, MachineTypeDefinition } from "../src/machine/machine-type.js";
import { prop, parseInteger, type PropertyType } from "../src/machine/properties.js";
import { pciSlot } from "../src/pci/constants.js";
import { ECAM_SIZE } from "../src/pci/host.js";
import { I440fx, Piix3, Piix3Ide, Piix4Pm } from "../devices/chipset.js";
import { FwCfgIo } from "../devices/fw-cfg.js";
import { PC_VERSIONS } from "./pc-compat.js";

/** `ecam=off` or `ecam=ADDRESS`: the MMCONFIG window (the real i440FX has none; off by default). */
const ecamAddress: PropertyType<number | null> = {
  name: "off|address",
  parse(text) {
    if (text === "off") return { value: null };
    const v = parseInteger(text);
    if (v === null || v < 0 || v % ECAM_SIZE !== 0 || v + ECAM_SIZE > 2 ** 32) {
      return { error: "off, or a 256 MiB-aligned address below 4 GiB such as 0xb0000000" };
    }
    return { value: v };
  },
  format: (v) => (v === null ? "off" : `0x${v.toString(16)}`),
};

/**
 * The pc board: i440FX host bridge at 00.0 and the PIIX3 function block at 01.x (ISA bridge,
 * IDE, PIIX4 power management), as `qemu-system-x86_64 -M pc -nodefaults` builds it.
 */
/**
 * QEMU's pc_init1: RAM up to max_ram_below_4g (3.5 GiB) sits below the hole; a larger machine
 * keeps 3 GiB there with gigabyte_align (pc-i440fx-2.0 and newer), 3.5 GiB without, the rest above 4 GiB.
 */
function pcRamSplit(gigabyteAlign: boolean): NonNullable<Board["ramSplit"]> {
  return (ramSize) => {
    const lowmem = ramSize >= 0xe0000000 && gigabyteAlign ? 0xc0000000 : 0xe0000000;
    const below4g = Math.min(ramSize, lowmem);
    return { below4g, above4g: ramSize - below4g };
  };
}

export const i440fxBoard: Board = {
  name: "i440fx",
  ramSplit: pcRamSplit(true),
  properties: {
    ecam: prop(ecamAddress, null, "PCI Express ECAM (MMCONFIG) window base, or off"),
  },
  drivers: [I440fx, Piix3, Piix3Ide, Piix4Pm, FwCfgIo],
  build(machine, options) {
    // PIIX3 routes slot s, pin p (0 = INTA) to PIRQ (p + s - 1) mod 4: slot 1 INTA -> PIRQA.
    machine.createRootBus((fn, pin) => (pin + pciSlot(fn.devfn) - 1) & 3);
    machine.addOnboardDevice("i440FX,addr=00.0");
    machine.addOnboardDevice("PIIX3,addr=01.0,multifunction=on");
    machine.isaBus = "isa.0"; // PIIX3's ISA bridge: fixed-port devices (-device isa-debugcon, ...) go here
    machine.addOnboardDevice("piix3-ide,addr=01.1");
    machine.addOnboardDevice("PIIX4_PM,addr=01.3");
    machine.addOnboardDevice("fw_cfg_io"); // 0x510-0x511: what firmware learns about the machine
    const ecam = options.ecam as number | null;
    if (ecam !== null) {
      machine.rootBus.allowsExtendedConfig = true;
      machine.memory.map(machine.host.ecamRegion, ecam);
    }
  },
};

/** Versions older than the first with gigabyteAlign set keep it (pc-i440fx-1.7 and older: false). */
const boards: Board[] = [];
for (const v of PC_VERSIONS) {
  const previous = boards[boards.length - 1] ?? i440fxBoard;
  boards.push(v.gigabyteAlign === undefined ? previous : { ...i440fxBoard, ramSplit: pcRamSplit(v.gigabyteAlign) });
}

/**
 * The versioned pc types: pc-qemu-7.2 (alias pc, the default) and, for every older version, its
 * compat properties as a delta over the next newer type (machines/pc-compat.ts). QEMU's names
 * select them too: pc-i440fx-X.Y, and pc-0.10 / pc-0.11 for the seed era.
 */
export const pcMachineTypes: readonly MachineTypeDefinition[] = [
  {
    name: "pc-qemu-7.2",
    aliases: ["pc", "pc-i440fx-7.2"],
    description: "Standard PC (i440FX + PIIX, 1996)",
    board: i440fxBoard,
    isDefault: true,
  },
  ...PC_VERSIONS.map((v, i) => ({
    name: `pc-qemu-${v.version}`,
    aliases: [v.version.startsWith("0.") ? `pc-${v.version}` : `pc-i440fx-${v.version}`],
    description: v.description,
    board: boards[i]!,
    newer: i === 0 ? "pc-qemu-7.2" : `pc-qemu-${PC_VERSIONS[i - 1]!.version}`,
    compat: v.compat,
  })),
];
