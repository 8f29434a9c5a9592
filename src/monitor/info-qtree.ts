import { IsaDevice } from "../isa/device.js";
import { PciDevice, pciCommonProperties } from "../pci/device.js";
import type { PciBridgeDevice } from "../pci/bridge.js";
import type { PciBus } from "../pci/bus.js";
import { PCI_CLASS_DEVICE, PCI_DEVICE_ID, PCI_SUBSYSTEM_ID, PCI_SUBSYSTEM_VENDOR_ID, PCI_VENDOR_ID } from "../pci/constants.js";
import { classDescription } from "../pci/query-pci.js";
import { isBoardChip, type BoardChip, type PlacedChip } from "../machine/board-chips.js";
import type { DriverInfo, MachineDevice, QdevGpio } from "../machine/drivers.js";
import type { Machine, PlacedDevice } from "../machine/machine.js";
import type { PropertyDef, PropertySchema } from "../machine/properties.js";
import { BusDevice } from "../storage/bus-device.js";
import type { ChildBus } from "../storage/child-bus.js";

/** QEMU's order of the common PCI properties in `info qtree` (after the device's own). */
const COMMON_ORDER = [
  "addr",
  "romfile",
  "romsize",
  "rombar",
  "multifunction",
  "x-pcie-lnksta-dllla",
  "x-pcie-extcap-init",
  "failover_pair_id",
  "acpi-index",
];
const U64 = (1n << 64n) - 1n;
const SYSBUS = "main-system-bus";

/** A device model that reports values its realize settled (QEMU writes them back into its properties). */
interface RealizedValues {
  qtreeValues(): Readonly<Record<string, unknown>>;
}

/**
 * QEMU's `info qtree`: the system bus and every device below it, each with its GPIO lines, its
 * resolved properties and what its bus adds (a PCI function's class, address, ids and BARs; a
 * system-bus device's MMIO regions), then its own buses. Devices are listed newest first and a
 * device's buses last-made first, as QEMU's qdev lists them. The board's chips that machbus does
 * not model come from its description (board-chips.ts); a board without one shows its PCI tree.
 */
export function formatQtree(machine: Machine): string {
  return new QtreePrinter(machine).print();
}

class QtreePrinter {
  private out = "";

  constructor(private readonly machine: Machine) {}

  print(): string {
    const qtree = this.machine.type.board.qtree;
    if (!qtree) {
      this.pciBus(this.machine.rootBus, 0);
      return this.out;
    }
    const placed = this.onSystemBus();
    this.bus(SYSBUS, "System", 0);
    for (const node of [...placed].reverse()) {
      if ("chip" in node) this.chip(node, 2);
      else this.device(node, 2);
    }
    return this.out;
  }

  private line(indent: number, text: string): void {
    this.out += `${" ".repeat(indent)}${text}\n`;
  }

  private bus(name: string, type: string, indent: number): void {
    this.line(indent, `bus: ${name}`);
    this.line(indent + 2, `type ${type}`);
  }

  /** The system bus's devices in creation order: the chips and the modelled devices placed among them. */
  private onSystemBus(): (PlacedChip | PlacedDevice)[] {
    const qtree = this.machine.type.board.qtree!;
    return qtree.devices
      .filter((d) => d.bus === SYSBUS)
      .map((d) => (isBoardChip(d) ? this.placedChip(d) : this.onboard(d.model)))
      .filter((d): d is PlacedChip | PlacedDevice => d !== undefined);
  }

  private placedChip(chip: BoardChip): PlacedChip | undefined {
    return this.machine.boardChips.find((c) => c.chip === chip);
  }

  private onboard(driver: string): PlacedDevice | undefined {
    return this.machine.devices().find((p) => p.onboard && p.info.name === driver);
  }

  private chip({ chip, props }: PlacedChip, indent: number): void {
    this.line(indent, `dev: ${chip.type}, id ""`);
    const pad = indent + 2;
    this.gpios(chip.gpios ?? [], pad);
    const schema = chip.properties ?? {};
    for (const name of Object.keys(schema)) this.property(schema, name, props[name], pad);
    for (const [address, size] of chip.mmio ?? []) this.line(pad, `mmio ${hex16(address)}/${hex16(size)}`);
    for (const b of [...(chip.buses ?? [])].reverse()) this.bus(b.name, b.type, pad);
    if (chip.type === this.machine.type.board.qtree!.pciHost) this.pciBus(this.machine.rootBus, pad);
  }

  private gpios(gpios: readonly QdevGpio[], indent: number): void {
    for (const g of gpios) this.line(indent, `gpio-${g.dir} "${g.name}" ${g.count}`);
  }

  private property(schema: PropertySchema, name: string, value: unknown, indent: number): void {
    const def = schema[name];
    if (!def?.inQtree) return;
    this.line(indent, `${name} = ${qtreeValue(def, value)}`);
  }

  private pciBus(bus: PciBus, indent: number): void {
    this.bus(bus.name, bus.express ? "PCIE" : "PCI", indent);
    const placed = this.machine.devices().filter((p) => p.device instanceof PciDevice && p.device.function.bus === bus);
    for (const p of [...placed].reverse()) this.device(p, indent + 2);
  }

  private device(p: PlacedDevice, indent: number): void {
    const { device, info } = p;
    this.line(indent, `dev: ${info.name}, id "${device.id ?? ""}"`);
    const pad = indent + 2;
    this.gpios(info.gpios, pad);
    const values = { ...p.props, ...realized(device) };
    const layout = info.qtree;
    if (!(device instanceof PciDevice)) {
      for (const name of Object.keys(info.properties)) this.property(info.properties, name, values[name], pad);
      this.boardBuses(info, pad);
      return;
    }
    const fn = device.function;
    if (fn.bars[6]) values.romsize = fn.bars[6].size; // QEMU shows the size it gave the ROM
    const own = layout ? layout.proxy : Object.keys(info.properties).filter((k) => !(k in pciCommonProperties));
    for (const name of [...own, ...COMMON_ORDER]) this.property(info.properties, name, values[name], pad);
    const s = fn.space;
    const cls = s.get16(PCI_CLASS_DEVICE);
    const h4 = (v: number): string => v.toString(16).padStart(4, "0");
    this.line(
      pad,
      `class ${classDescription(cls) ?? `Class ${h4(cls)}`}, addr ${fn.bdf}, pci id ${h4(s.get16(PCI_VENDOR_ID))}:${h4(s.get16(PCI_DEVICE_ID))} (sub ${h4(s.get16(PCI_SUBSYSTEM_VENDOR_ID))}:${h4(s.get16(PCI_SUBSYSTEM_ID))})`,
    );
    for (const bar of fn.bars) {
      if (!bar) continue;
      const addr = bar.address & U64;
      this.line(
        pad,
        `bar ${bar.index}: ${bar.isIo ? "i/o" : "mem"} at 0x${addr.toString(16)} [0x${((addr + BigInt(bar.size) - 1n) & U64).toString(16)}]`,
      );
    }
    this.boardBuses(info, pad);
    const bridge = device as Partial<PciBridgeDevice>;
    if (bridge.hasSecondaryBus) this.pciBus((device as PciBridgeDevice).secondaryBus, pad);
    const buses = [...this.machine.childBusesOf(device)].reverse();
    for (const b of buses.filter((x) => !x.spec.below)) this.childBus(b, pad);
    if (layout) {
      const { backend } = layout;
      this.bus(backend.bus, backend.busType, pad);
      this.line(pad + 2, `dev: ${backend.type}, id ""`);
      for (const name of backend.properties) this.property(info.properties, name, values[name], pad + 4);
      for (const b of buses.filter((x) => x.spec.below === "virtio-backend")) this.childBus(b, pad + 4);
    }
  }

  /** Buses of a modelled device that machbus does not model: PIIX3's ISA bus (with the ISA devices), PIIX4's SMBus. */
  private boardBuses(info: DriverInfo, indent: number): void {
    const qtree = this.machine.type.board.qtree;
    if (!qtree) return;
    for (const b of qtree.buses.filter((x) => x.owner === info.name)) {
      this.bus(b.name, b.type, indent);
      const elsewhere = new Set(qtree.devices.filter((d) => !isBoardChip(d)).map((d) => (d as { model: string }).model));
      const chips = qtree.devices.filter((d): d is BoardChip => isBoardChip(d) && d.bus === b.name).map((c) => this.placedChip(c)!);
      const isa =
        b.name === this.machine.isaBus
          ? this.machine.devices().filter((p) => p.device instanceof IsaDevice && !(p.onboard && elsewhere.has(p.info.name)))
          : [];
      for (const node of [...chips, ...isa].reverse()) {
        if ("chip" in node) this.chip(node, indent + 2);
        else this.device(node, indent + 2);
      }
    }
  }

  private childBus(bus: ChildBus, indent: number): void {
    this.bus(bus.name, bus.type, indent);
    for (const child of [...bus.children].reverse()) this.device(this.machine.placement(child)!, indent + 2);
  }
}

function realized(device: MachineDevice): Readonly<Record<string, unknown>> {
  if (device instanceof BusDevice) return device.qtreeValues();
  const r = device as Partial<RealizedValues>;
  return typeof r.qtreeValues === "function" ? r.qtreeValues() : {};
}

const hex16 = (v: number): string => v.toString(16).padStart(16, "0");

/**
 * QEMU's qtree spelling of a value (its string output visitor, human mode): strings quoted,
 * integers "N (0xN)" (negative ones in 64-bit two's complement), sizes "N (N KiB)", booleans.
 */
function qtreeValue(def: PropertyDef<unknown>, value: unknown): string {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" && def.type.name === "size") return `${value} (${sizeToString(value)})`;
  if (typeof value === "number" && def.type.cType) return `${value} (0x${(BigInt(value) & U64).toString(16)})`;
  if (typeof value === "number") return def.type.format(value);
  return `"${def.type.format(value)}"`;
}

/** QEMU's size_to_str: three significant digits and a binary unit, switching up once the number reaches 1000. */
export function sizeToString(bytes: number): string {
  const suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
  const scaled = bytes / (1000 / 1024);
  const exponent = scaled === 0 ? 0 : Math.floor(Math.log2(scaled)) + 1; // frexp's
  const i = Math.trunc((exponent - 1) / 10);
  return `${formatG3(bytes / 2 ** (i * 10))} ${suffixes[i]}B`;
}

/** printf's %0.3g. */
function formatG3(x: number): string {
  const s = x.toPrecision(3);
  const e = s.indexOf("e");
  if (e < 0) return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
  const mantissa = s.slice(0, e).replace(/\.?0+$/, "");
  const exp = Number(s.slice(e + 1));
  return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}
