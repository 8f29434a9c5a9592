import { pcAcpiTables } from "./pc-acpi.js";
import type { Board, MachineTypeDefinition, RamLayout } from "../src/machine/machine-type.js";
import { prop, parseInteger, type PropertyType } from "../src/machine/properties.js";
import { pciSlot } from "../src/pci/constants.js";
import { ECAM_SIZE } from "../src/pci/host.js";
import { I440fx, Piix3, Piix3Ide, Piix4Pm } from "../devices/chipset.js";
import { FwCfgIo } from "../devices/fw-cfg.js";
import { PC_VERSIONS } from "./pc-compat.js";
import { pcBoardQtree } from "./pc-chips.js";

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

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** QEMU's traditional end of low RAM (3.5 GiB), max-ram-below-4g's default. */
const PC_MAX_RAM_BELOW_4G = 0xe000_0000;
/** With gigabyte_align, split RAM ends here instead. */
const PC_GIGABYTE_ALIGNED_LOWMEM = 0xc000_0000;

/** QEMU's size syntax for machine options: bytes, or a number with a K, M, G or T suffix. */
const ramBoundary: PropertyType<number> = {
  name: "size",
  parse(text) {
    const m = /^\s*(0x[0-9a-f]+|\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$/i.exec(text);
    if (!m) return { error: "a size such as 2G or 3584M" };
    const value = Math.round(Number(m[1]) * { "": 1, k: 2 ** 10, m: MiB, g: GiB, t: 2 ** 40 }[m[2]!.toLowerCase()]!);
    return value > 4 * GiB ? { error: "a size less than or equal to 4G" } : { value };
  },
  format: (v) => (v % GiB === 0 ? `${v / GiB}G` : v % MiB === 0 ? `${v / MiB}M` : String(v)),
};

/**
 * The pc board: i440FX host bridge at 00.0 and the PIIX3 function block at 01.x (ISA bridge,
 * IDE, PIIX4 power management), as `qemu-system-x86_64 -M pc -nodefaults` builds it.
 */
export const i440fxBoard: Board = {
  name: "i440fx",
  properties: {
    ecam: prop(ecamAddress, null, "PCI Express ECAM (MMCONFIG) window base, or off"),
    "max-ram-below-4g": prop(ramBoundary, PC_MAX_RAM_BELOW_4G, "most RAM below 4 GiB; more goes above 4 GiB (0: the default, 3.5 GiB)"),
  },
  drivers: [I440fx, Piix3, Piix3Ide, Piix4Pm, FwCfgIo],
  driveInterface: "ide",
  qtree: pcBoardQtree,
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
  /** QEMU 7.2's pc_init1: RAM up to max-ram-below-4g stays low; a split ends at 3 GiB with gigabyte_align. */
  ramBelow4g(ramSize, options, machineClass) {
    const max = (options["max-ram-below-4g"] as number | undefined) || PC_MAX_RAM_BELOW_4G;
    let lowmem = max;
    if (ramSize >= max && machineClass.gigabyteAlign) lowmem = Math.min(lowmem, PC_GIGABYTE_ALIGNED_LOWMEM);
    return Math.min(ramSize, lowmem);
  },
  cmosBytes: pcCmosMemory,
  acpiTables: pcAcpiTables,
};

/**
 * The RTC CMOS bytes QEMU's pc_cmos_init derives from the RAM layout: base memory in KiB
 * (0x15), memory above 1 MiB in KiB (0x17 and 0x30, at most 65535), memory from 16 MiB to the
 * end of low RAM in 64 KiB (0x34), and RAM above 4 GiB in 64 KiB (0x5b-0x5d). Each is little-endian.
 */
export function pcCmosMemory(layout: RamLayout): ReadonlyMap<number, number> {
  const { below4g, above4g } = layout;
  const base = Math.min(Math.floor(below4g / 1024), 640);
  const extended = Math.min(below4g > MiB ? Math.floor((below4g - MiB) / 1024) : 0, 0xffff);
  const above16m = Math.min(below4g > 16 * MiB ? Math.floor((below4g - 16 * MiB) / 0x10000) : 0, 0xffff);
  const high = Math.floor(above4g / 0x10000);
  const bytes: [number, number][] = [
    [0x15, base & 0xff],
    [0x16, base >> 8],
    [0x17, extended & 0xff],
    [0x18, extended >> 8],
    [0x30, extended & 0xff],
    [0x31, extended >> 8],
    [0x34, above16m & 0xff],
    [0x35, above16m >> 8],
    [0x5b, high & 0xff],
    [0x5c, (high >> 8) & 0xff],
    [0x5d, (high >> 16) & 0xff],
  ];
  return new Map(bytes);
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
    board: i440fxBoard,
    newer: i === 0 ? "pc-qemu-7.2" : `pc-qemu-${PC_VERSIONS[i - 1]!.version}`,
    compat: v.compat,
    classFields: v.classFields,
  })),
];
