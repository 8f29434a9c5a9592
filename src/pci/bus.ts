import type { EventEmitter } from "eventemitter3";
import { MachbusError } from "../errors.js";
import type { MachineEvents } from "../events.js";
import { AddressSpace } from "../memory/address-space.js";
import { PCI_FUNC_MAX, PCI_SECONDARY_BUS, pciDevfn, pciFunc, pciSlot } from "./constants.js";
import { ConfigArena } from "./config-arena.js";
import { ConfigRouting } from "./config-routing.js";
import type { PciFunction } from "./function.js";

/** Maps a function's INTx pin (0 = INTA) to the pin or link it drives one level up. */
export type MapIrq = (fn: PciFunction, pin: number) => number;
/** Receives the level of a root bus's interrupt link (PIRQ on pc). */
export type SetIrq = (link: number, level: boolean) => void;

export type BusEvents = EventEmitter<MachineEvents>;

/** What a board says about one slot of a bus (F11). */
export type SlotRule =
  /** The slot is not wired on this board. */
  | { readonly kind: "absent" }
  /** Kept free by the board (QEMU's slot_reserved_mask). */
  | { readonly kind: "reserved"; readonly reason: string }
  /** Only this driver may sit here (a board's onboard NIC, say); the allocator keeps it for it. */
  | { readonly kind: "dedicated"; readonly driver: string; readonly reason: string };

/** The standard swizzle at a PCI-to-PCI bridge: pin' = (pin + slot) mod 4. */
export const swizzle: MapIrq = (fn, pin) => (pin + pciSlot(fn.devfn)) & 3;

/** A bus's hotplug handler (QEMU's HotplugHandler on a PCIe port's secondary bus). */
export interface PciHotplugHandler {
  /** Before `fn` is plugged (QEMU's pre_plug): may refuse, changing nothing. */
  prePlug(fn: PciFunction): void;
  /** After `fn` was plugged and its model set up (QEMU's plug). */
  afterPlug(fn: PciFunction): void;
  /**
   * device_del of `fn` (QEMU's unplug_request): "now" when the machine removes it at once;
   * "guest" when the handler signalled the guest, which completes the removal later (or it already did).
   */
  unplugRequest(fn: PciFunction): "now" | "guest";
}

/**
 * A PCI bus: 32 slots x 8 functions indexed by devfn, its own I/O and memory spaces (the
 * machine's for the root bus, a bridge's secondary spaces otherwise) and INTx routing.
 */
export class PciBus {
  readonly functions: (PciFunction | undefined)[] = new Array(256).fill(undefined);
  readonly children: PciBus[] = [];
  /** Slots the board keeps for itself (QEMU's slot_reserved_mask). */
  slotReservedMask = 0;
  /** The board's rules per slot; slots without one are ordinary. */
  readonly slotRules = new Map<number, SlotRule>();
  /** Whether the bus takes hotplug at all (QEMU: a hotplug handler; q35's pcie.0 has none). */
  hotpluggable = true;
  /** Slots whose devices can be added and removed at run time (all by default). */
  hotplugSlots = 0xffffffff;
  /** First devfn automatic placement considers (QEMU's devfn_min). */
  devfnMin = 0;
  /** Root bus only: the next automatic bus number for "pci.N" names (QEMU's automatic_ids; the root is pci.0). */
  nextAutomaticId = 1;
  /**
   * What hotplug on this bus also goes through besides the bus's own rules (QEMU's bus hotplug
   * handler): a PCI Express port's slot. Null: plug and unplug take effect at once.
   */
  hotplugHandler: PciHotplugHandler | null = null;
  /**
   * Root bus only: the chipset's ACPI PCI hotplug, when it also takes over the buses of bridges
   * present at start-up (QEMU's acpi-pci-hotplug-with-bridge-support), and whether PCIe slots
   * then keep announcing native hotplug (ICH9's x-keep-pci-slot-hpc). Null: native hotplug.
   */
  acpiHotplug: { keepSlotHpc: boolean } | null = null;
  /** Whether this is a PCI Express bus (QEMU's TYPE_PCIE_BUS: "type PCIE" in info qtree). */
  express = false;
  /** Whether config cycles may reach offsets 0x100-0xfff here (a PCI Express hierarchy). */
  allowsExtendedConfig = false;

  private irqCount: Int32Array | null = null;
  private setIrqFn: SetIrq | null = null;
  /** Root bus only: every bus below it by name (a name given twice lists each bus with it). */
  private readonly named: Map<string, PciBus[]> | null;
  /** Root bus only: config bytes of every function below it. */
  readonly arena: ConfigArena | null;
  /** Root bus only: which function each config cycle reaches (the host, ECAM and reports ask it). */
  readonly routing: ConfigRouting | null;

  constructor(
    /** QEMU's bus id: "pci.0" for the root, the bridge's id for a secondary bus. */
    readonly name: string,
    readonly io: AddressSpace,
    readonly memory: AddressSpace,
    readonly events: BusEvents,
    readonly mapIrq: MapIrq,
    /** The bridge whose secondary bus this is; null for a root bus. */
    readonly parentBridge: PciFunction | null = null,
  ) {
    this.arena = parentBridge ? null : new ConfigArena();
    this.routing = parentBridge ? null : new ConfigRouting(this, this.arena!);
    this.named = parentBridge ? null : new Map([[name, [this]]]);
  }

  get isRoot(): boolean {
    return this.parentBridge === null;
  }

  get root(): PciBus {
    return this.parentBridge ? this.parentBridge.bus!.root : this;
  }

  /** The bus number the guest gave it: 0 for a root bus, the bridge's secondary bus number otherwise. */
  get number(): number {
    return this.parentBridge ? this.parentBridge.space.config[PCI_SECONDARY_BUS]! : 0;
  }

  /** Root bus only: where INTx levels end up (PIIX3's PIRQ links on pc). */
  connectIrqs(setIrq: SetIrq, links: number): void {
    this.setIrqFn = setIrq;
    this.irqCount = new Int32Array(links);
  }

  /** Root bus only: recounts every link from the functions' INTx levels (after a state load). */
  recountIrqs(): void {
    if (!this.irqCount || !this.setIrqFn) return;
    this.irqCount.fill(0);
    for (let link = 0; link < this.irqCount.length; link++) this.setIrqFn(link, false);
    for (const bus of this.walk()) {
      for (const fn of bus) {
        if (fn.intxDisabled) continue;
        for (let pin = 0; pin < 4; pin++) if (fn.irqState & (1 << pin)) bus.changeIrqLevel(fn, pin, 1);
      }
    }
  }

  /** Whether any function on this bus drives `link` (root bus only). */
  irqLevel(link: number): boolean {
    return (this.irqCount?.[link] ?? 0) > 0;
  }

  /** QEMU's pci_change_irq_level: swizzle up to the root and count asserted sources per link. */
  changeIrqLevel(fn: PciFunction, pin: number, change: number): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk starts here and climbs to the root
    let bus: PciBus = this;
    let dev = fn;
    for (;;) {
      pin = bus.mapIrq(dev, pin);
      if (bus.setIrqFn) break;
      dev = bus.parentBridge!;
      bus = dev.bus!;
    }
    const count = (bus.irqCount![pin]! += change);
    bus.setIrqFn(pin, count !== 0);
  }

  // ---- functions ----

  get(devfn: number): PciFunction | undefined {
    return this.functions[devfn];
  }

  isReserved(devfn: number): boolean {
    return (this.slotReservedMask & (1 << pciSlot(devfn))) !== 0;
  }

  /** Whether `driver` may go in `slot` under the board's rules (absent, reserved, dedicated to another driver). */
  slotAllows(slot: number, driver: string): boolean {
    const rule = this.slotRules.get(slot);
    if (this.isReserved(slot << 3)) return false;
    return !rule || (rule.kind === "dedicated" && rule.driver === driver);
  }

  isHotplugSlot(slot: number): boolean {
    return (this.hotplugSlots & (1 << slot)) !== 0;
  }

  /**
   * Checks what QEMU's do_pci_register_device and pci_init_multifunction check, without
   * changing anything: taken or reserved slot, single-function rules. Throws QEMU's texts.
   */
  checkPlug(fn: PciFunction, devfn: number): void {
    const name = fn.owner.driver;
    const slot = pciSlot(devfn);
    const func = pciFunc(devfn);
    const rule = this.slotRules.get(slot);
    if (rule?.kind === "absent") {
      throw new MachbusError("slot-unavailable", `PCI: slot ${slot} does not exist on bus ${this.name} of this board`);
    }
    if (this.isReserved(devfn) || rule?.kind === "reserved") {
      throw new MachbusError(
        "slot-unavailable",
        `PCI: slot ${slot} function ${func} not available for ${name}, reserved${rule?.kind === "reserved" ? ` (${rule.reason})` : ""}`,
      );
    }
    if (rule?.kind === "dedicated" && rule.driver !== name) {
      throw new MachbusError(
        "slot-unavailable",
        `PCI: slot ${slot} function ${func} not available for ${name}, reserved for ${rule.driver} (${rule.reason})`,
      );
    }
    if (fn.hotplugged && !this.hotpluggable) {
      throw new MachbusError("not-hotpluggable", `Bus '${this.name}' does not support hotplugging`);
    }
    if (fn.hotplugged && !this.isHotplugSlot(slot)) {
      throw new MachbusError("not-hotpluggable", `PCI: slot ${slot} of bus ${this.name} does not support hotplug`);
    }
    const holder = this.functions[devfn];
    if (holder) {
      throw new MachbusError(
        "slot-unavailable",
        `PCI: slot ${slot} function ${func} not available for ${name}, in use by ${holder.owner.driver},id=${holder.owner.id ?? "(null)"}`,
      );
    }
    const f0 = this.functions[pciDevfn(slot, 0)];
    if (fn.hotplugged && func !== 0 && f0) {
      throw new MachbusError(
        "slot-unavailable",
        `PCI: slot ${slot} function 0 already occupied by ${f0.owner.driver}, new func ${name} cannot be exposed to guest.`,
      );
    }
    if (func !== 0) {
      if (f0 && !f0.multifunction) {
        throw new MachbusError(
          "multifunction",
          `PCI: single function device can't be populated in function ${slot.toString(16)}.${func.toString(16)}`,
        );
      }
      return;
    }
    if (fn.multifunction) return;
    for (let f = 1; f < PCI_FUNC_MAX; f++) {
      if (this.functions[pciDevfn(slot, f)]) {
        throw new MachbusError(
          "multifunction",
          `PCI: ${slot.toString(16)}.0 indicates single function, but ${slot.toString(16)}.${f.toString(16)} is already populated.`,
        );
      }
    }
  }

  /** Puts `fn` at `devfn` after checkPlug's rules; its BARs start decoding if the guest enabled them. */
  plug(fn: PciFunction, devfn: number): void {
    this.checkPlug(fn, devfn);
    fn.bus = this;
    fn.devfn = devfn;
    fn.powered = true;
    fn.applyMultifunctionBit();
    this.root.arena!.attach(fn.space);
    this.functions[devfn] = fn;
    this.root.routing!.invalidate();
    fn.updateMappings();
  }

  unplug(fn: PciFunction): void {
    if (this.functions[fn.devfn] !== fn) return;
    for (let pin = 0; pin < 4; pin++) fn.setPinLevel(pin, false);
    fn.powered = false;
    fn.updateMappings();
    this.functions[fn.devfn] = undefined;
    this.root.arena!.detach(fn.space);
    this.root.routing!.invalidate();
    fn.bus = null;
  }

  /**
   * QEMU's pci_set_power (a PCIe slot's power controller): an unpowered function decodes no BAR
   * and config cycles do not reach it; powering it off resets it.
   */
  setPower(fn: PciFunction, on: boolean): void {
    if (fn.powered === on || this.functions[fn.devfn] !== fn) return;
    fn.powered = on;
    this.root.routing!.invalidate();
    fn.updateMappings();
    if (!on) fn.owner.reset();
  }

  /** Present functions in devfn order. */
  *[Symbol.iterator](): IterableIterator<PciFunction> {
    for (const fn of this.functions) if (fn) yield fn;
  }

  /** Links a bridge's secondary bus below this one: QEMU puts a new child bus first in its parent's list. */
  addChild(child: PciBus): void {
    this.children.unshift(child);
    const named = this.root.named!;
    named.set(child.name, [...(named.get(child.name) ?? []), child]);
    this.root.routing!.invalidate();
  }

  removeChild(child: PciBus): void {
    const i = this.children.indexOf(child);
    if (i < 0) return;
    this.children.splice(i, 1);
    const named = this.root.named!;
    const rest = named.get(child.name)!.filter((b) => b !== child);
    if (rest.length) named.set(child.name, rest);
    else named.delete(child.name);
    this.root.routing!.invalidate();
  }

  /** The bus called `name` below the root (the first in depth-first order if several are), or undefined. */
  busNamed(name: string): PciBus | undefined {
    const list = this.root.named!.get(name);
    if (!list || list.length < 2) return list?.[0];
    for (const bus of this.root.walk()) if (list.includes(bus)) return bus;
    return undefined;
  }

  /** The bus config cycles for bus number `n` reach, or null (the root's routing answers). */
  findBus(busNumber: number): PciBus | null {
    return this.root.routing!.busAt(busNumber);
  }

  /** All buses below and including this one, depth first. */
  *walk(): IterableIterator<PciBus> {
    yield this;
    for (const child of this.children) yield* child.walk();
  }

  /** Whether a function is plugged on this bus or on any bus behind it (a bridge that may not go yet). */
  hasFunctions(): boolean {
    for (const b of this.walk()) if (b.functions.some((f) => f)) return true;
    return false;
  }
}
