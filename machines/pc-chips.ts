import type { BoardQtree, BoardChip } from "../src/machine/board-chips.js";
import type { QdevGpio } from "../src/machine/drivers.js";
import { prop, types, type PropertySchema } from "../src/machine/properties.js";

/*
 * The pc board's devices that machbus does not model, as `qemu-system-x86_64 -M pc -nodefaults`
 * 7.2 creates them (pc_init1: memory and fw_cfg, the i440FX host, the IOAPIC and HPET, the ISA
 * devices of pc_basic_device_init and the superio, PIIX4's SPD EEPROMs): data for `info qtree`.
 * Property values are the ones the board gives; the machine type's compat properties apply on top.
 */

const gpio = (dir: "in" | "out", name: string, count: number): QdevGpio => ({ dir, name, count });
const u8 = (v: number) => prop(types.uint8, v, "");
const u16 = (v: number) => prop(types.uint16, v, "");
const u32 = (v: number) => prop(types.uint32, v, "");
const i32 = (v: number) => prop(types.int32, v, "");
const bool = (v: boolean) => prop(types.bool, v, "");
const str = (v: string) => prop(types.str, v, "");
const enumOf = (values: readonly string[], v: string) => prop(types.enumOf(values), v, "");

const SYSBUS = "main-system-bus";
const ISA = "isa.0";
const fdcDriveType = ["144", "288", "120", "none", "auto"];

function isa(type: string, properties: PropertySchema = {}, gpios: QdevGpio[] = [], extra: Partial<BoardChip> = {}): BoardChip {
  return { type, bus: ISA, properties, gpios, ...extra };
}

function i8257(base: number, pageBase: number, dshift: number): BoardChip {
  return isa("i8257", { base: i32(base), "page-base": i32(pageBase), "pageh-base": i32(-1), dshift: i32(dshift) });
}

function i8259(master: boolean): BoardChip {
  return isa(
    "isa-i8259",
    {
      iobase: u32(master ? 0x20 : 0xa0),
      elcr_addr: u32(master ? 0x4d0 : 0x4d1),
      elcr_mask: u8(master ? 0xf8 : 0xde),
      master: bool(master),
    },
    [gpio("in", "", 8), gpio("out", "", 1)],
  );
}

export const pcBoardQtree: BoardQtree = {
  pciHost: "i440FX-pcihost",
  buses: [
    { owner: "PIIX3", name: ISA, type: "ISA" },
    { owner: "PIIX4_PM", name: "i2c", type: "i2c-bus" },
  ],
  devices: [
    { type: "kvmvapic", bus: SYSBUS },
    { model: "fw_cfg_io", bus: SYSBUS },
    {
      type: "i440FX-pcihost",
      parents: ["pci-host-bridge"],
      bus: SYSBUS,
      properties: {
        "pci-hole64-size": prop(types.size, 2 ** 31, ""),
        short_root_bus: u32(0),
        "x-pci-hole64-fix": bool(true),
        "x-config-reg-migration-enabled": bool(true),
        "bypass-iommu": bool(false),
      },
    },
    { type: "ioapic", bus: SYSBUS, gpios: [gpio("in", "", 24)], properties: { version: u8(0x20) }, mmio: [[0xfec00000, 0x1000]] },
    {
      type: "hpet",
      bus: SYSBUS,
      gpios: [gpio("in", "", 2), gpio("out", "", 1), gpio("out", "sysbus-irq", 32)],
      properties: { timers: u8(3), msi: bool(false), "hpet-intcap": u32(4), "hpet-offset-saved": bool(true) },
      mmio: [[0xfed00000, 0x400]],
    },
    i8257(0, 0x80, 0),
    i8257(0xc0, 0x88, 1),
    i8259(true),
    i8259(false),
    isa("mc146818rtc", { base_year: i32(0), iobase: u16(0x70), irq: u8(8), lost_tick_policy: enumOf(["discard", "delay"], "discard") }, [
      gpio("out", "", 1),
    ]),
    isa("isa-pit", { iobase: u32(0x40) }, [gpio("in", "", 1), gpio("out", "", 1)]),
    isa("isa-pcspk", { audiodev: str(""), iobase: u32(0x61), migrate: bool(true) }),
    isa(
      "isa-fdc",
      {
        iobase: u32(0x3f0),
        irq: u32(6),
        dma: u32(2),
        fdtypeA: enumOf(fdcDriveType, "auto"),
        fdtypeB: enumOf(fdcDriveType, "auto"),
        fallback: enumOf(fdcDriveType, "288"),
      },
      [],
      { buses: [{ name: "floppy-bus.0", type: "floppy-bus" }] },
    ),
    isa("i8042", { "extended-state": bool(true), "kbd-throttle": bool(false), "kbd-irq": u8(1), "mouse-irq": u8(12) }, [
      gpio("in", "ps2-mouse-input-irq", 1),
      gpio("in", "ps2-kbd-input-irq", 1),
      gpio("out", "", 2),
      gpio("out", "a20", 1),
    ]),
    // i8042 creates its keyboard and mouse, which QEMU puts on the system bus.
    { type: "ps2-kbd", bus: SYSBUS, gpios: [gpio("out", "", 1)] },
    { type: "ps2-mouse", bus: SYSBUS, gpios: [gpio("out", "", 1)] },
    isa("vmport", {
      "x-read-set-eax": bool(true),
      "x-signal-unsupported-cmd": bool(true),
      "x-report-vmx-type": bool(true),
      "x-cmds-v2": bool(true),
      "vmware-vmx-version": u32(6),
      "vmware-vmx-type": u8(2),
    }),
    isa("vmmouse"),
    isa("port92", {}, [gpio("out", "a20", 1)]),
    // PIIX4's SMBus: the SPD EEPROMs of the eight DIMM slots
    ...[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57].map((address): BoardChip => ({
      type: "smbus-eeprom",
      bus: "i2c",
      properties: { address: u8(address) },
    })),
  ],
};
