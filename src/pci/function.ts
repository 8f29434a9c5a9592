import type { AddressSpace } from "../memory/address-space.js";
import type { KeptState, StateDescription } from "../state/description.js";
import { Bar, BAR_UNMAPPED } from "./bar.js";
import type { PciBus } from "./bus.js";
import { ConfigSpace, getLe, setLe } from "./config-space.js";
import {
  PCI_BASE_ADDRESS_0,
  PCI_CACHE_LINE_SIZE,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_HEADER_TYPE,
  PCI_HEADER_TYPE_BRIDGE,
  PCI_HEADER_TYPE_MULTI_FUNCTION,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_NUM_PINS,
  PCI_NUM_REGIONS,
  PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS1,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_ROM_SLOT,
  PCI_STATUS,
  PCI_STATUS_INTERRUPT,
  pciFunc,
  pciSlot,
} from "./constants.js";

/** Side effect of a guest config write that touched [start, end). */
export type ConfigWriteHook = (addr: number, value: number, len: number) => void;
/** Refreshes config bytes in [start, end) before the guest reads them. */
export type ConfigReadHook = (addr: number, len: number) => void;

interface Hook<F> {
  readonly start: number;
  readonly end: number;
  readonly fn: F;
}

interface ReadHook extends Hook<ConfigReadHook> {
  armed: boolean;
}

/** A registered read hook; a disarmed one costs config reads nothing. */
export interface ConfigReadHookHandle {
  arm(armed: boolean): void;
}

/** What a function needs to know about the device model that owns it (for names and events). */
export interface FunctionOwner {
  readonly driver: string;
  readonly id: string | null;
  /** Device reset (bridges reset their secondary bus's devices through it). */
  reset(): void;
}

const NO_HOOKS: readonly never[] = [];
const MULTIFUNCTION = 1;
const HOTPLUGGED = 2;
const POWERED = 4;
const BRIDGE = 8;
const EXPRESS = 16;
const U64 = (1n << 64n) - 1n;
const U32 = 0xffffffffn;

/**
 * The engine's view of one PCI function: config space, BARs, INTx state and the write/read hooks
 * its device model asked for. Every function on every bus is this one class, so the config-cycle
 * path (host -> bus -> function -> bytes) stays monomorphic whatever the device model is.
 */
export class PciFunction {
  readonly space: ConfigSpace;
  readonly bars: (Bar | undefined)[] = new Array(PCI_NUM_REGIONS).fill(undefined);
  bus: PciBus | null = null;
  devfn = -1;
  /** One bit per INTx pin: the level the device drives. */
  irqState = 0;
  /** The flags below, as bits (one field instead of five: machines have thousands of functions). */
  private flags = POWERED;

  /** State beyond config space that snapshots carry, as described state (see keepState). */
  readonly states: KeptState[] = [];
  // Shared empty lists until a hook arrives: most functions have few hooks or none.
  private writeHooks: readonly Hook<ConfigWriteHook>[] = NO_HOOKS;
  private resetHooks: readonly (() => void)[] = NO_HOOKS;
  private readHooks: readonly ReadHook[] = NO_HOOKS;
  /** Per dword of config space: 1 where a read hook wants to see the access (null: none). */
  private readHookMap: Uint8Array | null = null;

  constructor(
    readonly owner: FunctionOwner,
    options: { express: boolean; bridge: boolean },
  ) {
    this.flags |= (options.express ? EXPRESS : 0) | (options.bridge ? BRIDGE : 0);
    this.space = new ConfigSpace(options.express ? 4096 : 256);
  }

  get multifunction(): boolean {
    return (this.flags & MULTIFUNCTION) !== 0;
  }
  set multifunction(on: boolean) {
    this.flags = on ? this.flags | MULTIFUNCTION : this.flags & ~MULTIFUNCTION;
  }
  /** Set on hot-plugged functions (QEMU hides those whose function 0 is missing). */
  get hotplugged(): boolean {
    return (this.flags & HOTPLUGGED) !== 0;
  }
  set hotplugged(on: boolean) {
    this.flags = on ? this.flags | HOTPLUGGED : this.flags & ~HOTPLUGGED;
  }
  /** QEMU's has_power: an unpowered (unplugging) function decodes no BAR. */
  get powered(): boolean {
    return (this.flags & POWERED) !== 0;
  }
  set powered(on: boolean) {
    this.flags = on ? this.flags | POWERED : this.flags & ~POWERED;
  }
  get isBridge(): boolean {
    return (this.flags & BRIDGE) !== 0;
  }
  get isExpress(): boolean {
    return (this.flags & EXPRESS) !== 0;
  }

  /** "e1000" or "e1000,id=net0" plus the address once plugged: how errors and events name it. */
  get label(): string {
    const base = this.owner.id ? `${this.owner.driver},id=${this.owner.id}` : this.owner.driver;
    return this.bus ? `${base} (${this.bdf})` : base;
  }

  /** bus:slot.function as lspci prints it, e.g. "00:03.0". */
  get bdf(): string {
    const bus = this.bus ? this.bus.number : 0;
    return `${hex2(bus)}:${hex2(pciSlot(this.devfn))}.${pciFunc(this.devfn)}`;
  }

  // ---- config cycles (the hot path) ----

  /** QEMU's pci_host_config_read_common: past `limit` reads all ones; a cycle is clipped at it. */
  read(addr: number, len: number, limit: number): number {
    if (addr >= limit) return 0xffffffff;
    if (len > limit - addr) len = limit - addr;
    const hooks = this.readHookMap;
    if (hooks !== null && (hooks[addr >> 2] !== 0 || hooks[(addr + len - 1) >> 2] !== 0)) this.runReadHooks(addr, len);
    return this.space.read(addr, len);
  }

  /** QEMU's pci_default_write_config: masked bytes, then mappings, INTx disable, and device hooks. */
  write(addr: number, value: number, len: number, limit: number): void {
    if (addr >= limit) return;
    if (len > limit - addr) len = limit - addr;
    const wasIntxDisabled = this.intxDisabled;
    this.space.guestWrite(addr, value, len);
    const end = addr + len;
    const romReg = this.isBridge ? PCI_ROM_ADDRESS1 : PCI_ROM_ADDRESS;
    // QEMU only looks at the low command byte: a byte write to 0x05 changes no mapping.
    const coversCommand = addr <= PCI_COMMAND && end > PCI_COMMAND;
    if (coversCommand || (addr < PCI_BASE_ADDRESS_0 + 24 && end > PCI_BASE_ADDRESS_0) || (addr < romReg + 4 && end > romReg)) {
      this.updateMappings();
    }
    if (coversCommand && wasIntxDisabled !== this.intxDisabled) this.intxDisableChanged();
    for (const h of this.writeHooks) if (addr < h.end && end > h.start) h.fn(addr, value, len);
  }

  // ---- hooks for device models and engine features (MSI, MSI-X, bridges) ----

  onConfigWrite(start: number, len: number, fn: ConfigWriteHook): void {
    this.writeHooks = [...this.writeHooks, { start, end: start + len, fn }];
  }

  /**
   * Runs `fn` before guest reads of [start, start + len). Armed unless `armed` is false: a device
   * whose hook only matters in some states (virtio's config window once given a length) arms it
   * then, so that reads of its function stay on the fast path the rest of the time.
   */
  onConfigRead(start: number, len: number, fn: ConfigReadHook, armed = true): ConfigReadHookHandle {
    const hook: ReadHook = { start, end: start + len, fn, armed };
    this.readHooks = [...this.readHooks, hook];
    if (armed) this.readHooksChanged();
    return {
      arm: (on) => {
        if (hook.armed === on) return;
        hook.armed = on;
        this.readHooksChanged();
      },
    };
  }

  private readHooksChanged(): void {
    const armed = this.readHooks.filter((h) => h.armed);
    if (armed.length === 0) this.readHookMap = null;
    else {
      const map = new Uint8Array(this.space.size >> 2);
      for (const h of armed) map.fill(1, h.start >> 2, ((h.end - 1) >> 2) + 1);
      this.readHookMap = map;
    }
    this.bus?.root.routing!.invalidate(); // functions with armed read hooks leave the fast path
  }

  /** Per config dword, 1 where a read hook runs; null without read hooks. */
  get readHookDwords(): Uint8Array | null {
    return this.readHookMap;
  }

  /**
   * An MSI or MSI-X message: a memory write by the device, so it goes through the bus-master
   * window and nowhere without bus mastering (QEMU's bus-master region).
   */
  sendMessage(address: bigint, data: number): void {
    if (!(this.space.get16(PCI_COMMAND) & PCI_COMMAND_MASTER)) return;
    this.bus?.events.emit("msi", { device: this.owner.id ?? this.owner.driver, bdf: this.bdf, address, data });
  }

  /**
   * Snapshots carry `target` as `description` says (src/state/description.ts): engine features
   * (MSI-X) and device models declare their registers this way. Names are unique per function.
   */
  keepState<T extends object>(description: StateDescription<T>, target: T): void {
    if (description.name === "pci" || this.states.some((k) => k.description.name === description.name)) {
      throw new Error(`${this.label}: a state called '${description.name}' is already kept`);
    }
    if (this.states.length === 30) throw new Error(`${this.label}: keeps more than 30 states`);
    this.states.push({ description, target });
  }

  /** Engine features with reset state of their own (MSI, MSI-X) register here. */
  onReset(fn: () => void): void {
    this.resetHooks = [...this.resetHooks, fn];
  }

  private runReadHooks(addr: number, len: number): void {
    const end = addr + len;
    for (const h of this.readHooks) if (h.armed && addr < h.end && end > h.start) h.fn(addr, len);
  }

  // ---- BARs ----

  /** Registers a BAR: type bits in config, size mask in wmask (QEMU's pci_register_bar). */
  registerBar(bar: Bar): void {
    const reg = this.barRegister(bar.index);
    this.bars[bar.index] = bar;
    const s = this.space;
    s.ownMasks();
    setLe(s.config, reg, bar.type, 4);
    // wmask = ~(size - 1): I/O BARs keep their upper 16 bits writable, as on QEMU.
    const mask = (U64 & ~(BigInt(bar.size) - 1n)) | (bar.index === PCI_ROM_SLOT ? BigInt(PCI_ROM_ADDRESS_ENABLE) : 0n);
    if (bar.is64) {
      setLe(s.wmask, reg, Number(mask & U32), 4);
      setLe(s.wmask, reg + 4, Number(mask >> 32n), 4);
      s.cmask.fill(0xff, reg, reg + 8);
    } else {
      setLe(s.wmask, reg, Number(mask & U32), 4);
      s.cmask.fill(0xff, reg, reg + 4);
    }
  }

  barRegister(index: number): number {
    if (index !== PCI_ROM_SLOT) return PCI_BASE_ADDRESS_0 + index * 4;
    return this.isBridge ? PCI_ROM_ADDRESS1 : PCI_ROM_ADDRESS;
  }

  /** QEMU's pci_bar_address: where BAR `bar` decodes now, or BAR_UNMAPPED. */
  barAddress(bar: Bar): bigint {
    const s = this.space;
    const cmd = s.get16(PCI_COMMAND);
    if (!(cmd & (bar.isIo ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY))) return BAR_UNMAPPED;
    const reg = this.barRegister(bar.index);
    const size = BigInt(bar.size);
    if (bar.isIo) {
      const addr = BigInt(getLe(s.config, reg, 4)) & ~(size - 1n);
      const last = addr + size - 1n;
      if (last <= addr || last >= U32 || addr === 0n) return BAR_UNMAPPED;
      return addr;
    }
    let addr = bar.is64 ? BigInt(getLe(s.config, reg, 4)) | (BigInt(getLe(s.config, reg + 4, 4)) << 32n) : BigInt(getLe(s.config, reg, 4));
    if (bar.index === PCI_ROM_SLOT && !(addr & BigInt(PCI_ROM_ADDRESS_ENABLE))) return BAR_UNMAPPED;
    addr &= ~(size - 1n);
    const last = addr + size - 1n;
    if (last <= addr || last >= U64 || addr === 0n) return BAR_UNMAPPED;
    if (!bar.is64 && last >= U32) return BAR_UNMAPPED;
    return addr;
  }

  /** QEMU's pci_update_mappings: move every BAR whose decoded address changed. */
  updateMappings(): void {
    if (!this.bus) return;
    for (const bar of this.bars) {
      if (!bar) continue;
      const next = this.powered ? this.barAddress(bar) : BAR_UNMAPPED;
      const prev = bar.address;
      if (next === prev) continue;
      const space = this.barSpace(bar);
      if (prev !== BAR_UNMAPPED && fits(space, prev, bar.size)) space.unmapWindow(bar.decoder, Number(prev), this.label);
      bar.address = next;
      // A BAR outside the space (an I/O BAR above 0xffff) decodes nothing the CPU can reach.
      if (next !== BAR_UNMAPPED && fits(space, next, bar.size)) {
        space.mapWindow(bar.decoder, Number(next), bar.size, { targetBase: 0, owner: this.label });
      }
      this.bus.events.emit(next === BAR_UNMAPPED ? "bar-unmapped" : "bar-mapped", {
        device: this.owner.id ?? this.owner.driver,
        driver: this.owner.driver,
        bdf: this.bdf,
        bar: bar.index,
        space: bar.isIo ? "io" : "memory",
        size: bar.size,
        oldAddress: prev === BAR_UNMAPPED ? null : prev,
        newAddress: next === BAR_UNMAPPED ? null : next,
      });
    }
  }

  private barSpace(bar: Bar): AddressSpace {
    return bar.isIo ? this.bus!.io : this.bus!.memory;
  }

  // ---- INTx ----

  get interruptPin(): number {
    return this.space.config[PCI_INTERRUPT_PIN]!;
  }

  get intxDisabled(): boolean {
    return (this.space.get16(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) !== 0;
  }

  /** Drives the function's own pin (config 0x3d) to `level`. */
  setIrq(level: boolean): void {
    const pin = this.interruptPin - 1;
    if (pin < 0 || pin >= PCI_NUM_PINS) return;
    this.setPinLevel(pin, level);
  }

  /** QEMU's pci_irq_handler: record the level, update status bit 3, route the change. */
  setPinLevel(pin: number, level: boolean): void {
    const bit = 1 << pin;
    const was = (this.irqState & bit) !== 0;
    if (was === level) return;
    this.irqState = level ? this.irqState | bit : this.irqState & ~bit;
    this.updateIrqStatus();
    if (this.intxDisabled || !this.bus) return;
    this.bus.changeIrqLevel(this, pin, level ? 1 : -1);
  }

  updateIrqStatus(): void {
    const c = this.space.config;
    c[PCI_STATUS] = this.irqState ? c[PCI_STATUS]! | PCI_STATUS_INTERRUPT : c[PCI_STATUS]! & ~PCI_STATUS_INTERRUPT;
  }

  private intxDisableChanged(): void {
    if (!this.bus) return;
    const disabled = this.intxDisabled;
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) {
      if (this.irqState & (1 << pin)) this.bus.changeIrqLevel(this, pin, disabled ? -1 : 1);
    }
  }

  // ---- life cycle ----

  /** Header type with bit 7 for multifunction devices, as pci_init_multifunction sets it. */
  applyMultifunctionBit(): void {
    const c = this.space.config;
    if (this.multifunction) c[PCI_HEADER_TYPE] = c[PCI_HEADER_TYPE]! | PCI_HEADER_TYPE_MULTI_FUNCTION;
  }

  get headerType(): number {
    return this.space.config[PCI_HEADER_TYPE]! & ~PCI_HEADER_TYPE_MULTI_FUNCTION;
  }

  get isType1(): boolean {
    return this.headerType === PCI_HEADER_TYPE_BRIDGE;
  }

  /** QEMU's pci_do_device_reset: drop INTx, clear writable command/status/line bits, reset BARs. */
  reset(): void {
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.setPinLevel(pin, false);
    const s = this.space;
    for (const reg of [PCI_COMMAND, PCI_STATUS]) {
      const clear = s.get16(reg) & (getLe(s.wmask, reg, 2) | getLe(s.w1cmask, reg, 2));
      s.set16(reg, s.get16(reg) & ~clear);
    }
    s.config[PCI_INTERRUPT_LINE] = s.config[PCI_INTERRUPT_LINE]! & ~(s.wmask[PCI_INTERRUPT_LINE]! | s.w1cmask[PCI_INTERRUPT_LINE]!);
    s.config[PCI_CACHE_LINE_SIZE] = 0;
    for (const bar of this.bars) {
      if (!bar) continue;
      const reg = this.barRegister(bar.index);
      setLe(s.config, reg, bar.type, 4);
      if (bar.is64) setLe(s.config, reg + 4, 0, 4);
    }
    this.updateMappings();
    for (const hook of this.resetHooks) hook();
  }
}

function fits(space: AddressSpace, addr: bigint, size: number): boolean {
  return addr + BigInt(size) <= BigInt(space.size);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
