import { MachbusError } from "../errors.js";
import type { BarMappingEvent, IrqEvent, RegionMappingEvent } from "../events.js";
import type { Machine } from "../machine/machine.js";

/*
 * Everything this module knows about v86 (0.5.462) internals is in the interfaces below: the
 * port table `cpu.io`, the 128 KiB memory-map tables, the PIC entry points and the reboot. The
 * public v86.d.ts declares none of them.
 */
type PortRead = (port: number) => number;
type PortWrite = (value: number) => void;
interface V86PortEntry {
  read8: PortRead;
  read16: PortRead;
  read32: PortRead;
  write8: PortWrite;
  write16: PortWrite;
  write32: PortWrite;
  device: unknown;
}
type MmapRead = (addr: number) => number;
type MmapWrite = (addr: number, value: number) => void;
interface V86Io {
  ports: V86PortEntry[];
  create_empty_entry(): V86PortEntry;
  register_read(port: number, device: object, r8: PortRead, r16: PortRead, r32: PortRead): void;
  register_write(port: number, device: object, w8: PortWrite, w16: PortWrite, w32: PortWrite): void;
  mmap_register(addr: number, size: number, r8: MmapRead, w8: MmapWrite, r32: MmapRead, w32: MmapWrite): void;
}
interface V86Cpu {
  io: V86Io;
  /** v86's RAM size as its wasm code reads it (a view of the wasm memory at offset 812). */
  memory_size: { [index: number]: number };
  wasm_memory: WebAssembly.Memory;
  devices?: {
    rtc?: { cmos_write(index: number, value: number): void };
    vga?: { vga_memory_size: number };
    /** v86's PIIX4-like ACPI device, present with its `acpi` option (which also turns on its APIC and I/O APIC). */
    acpi?: { timer(now: number): number };
  };
  memory_map_read8: (MmapRead | undefined)[];
  memory_map_write8: (MmapWrite | undefined)[];
  memory_map_read32: (MmapRead | undefined)[];
  memory_map_write32: (MmapWrite | undefined)[];
  device_raise_irq(line: number): void;
  device_lower_irq(line: number): void;
  reboot_internal(): void;
}

/** The wasm exports this module uses: v86's RAM allocation and its byte access to guest memory. */
interface V86WasmExports {
  memory: WebAssembly.Memory;
  allocate_memory(size: number): number;
  read8(address: number): number;
}

/** v86 routes guest-physical memory to JS in chunks of this size (`memory_map_*[addr >>> 17]`). */
const MMAP_CHUNK = 0x20000;
/** The most RAM v86 allocates itself: its memory_size option is a signed 32-bit count. */
const V86_OWN_MAX_RAM = 2 ** 31 - MMAP_CHUNK;
const WASM_PAGE = 0x10000;
/** A wasm memory holds at most 4 GiB; v86's own data and later allocations (VGA memory, JIT) need room beside the RAM. */
const V86_MAX_RAM = 2 ** 32 - 128 * 2 ** 20;
/** Where v86 serves its own VGA framebuffer (VGA_LFB_ADDRESS in v86's memory.rs), ahead of any JS handler. */
const V86_VGA_LFB = 0xe000_0000;
/** v86 keeps the top 1 MiB as its own alias of the BIOS in low RAM. */
const V86_BIOS_ALIAS = 0xfff0_0000;
/** Host bridges whose PAM0 the workaround sets: i440FX (pc) at 0x59, the MCH (q35) at 0x90. */
const PAM0_BY_HOST_BRIDGE = new Map([
  [0x12378086, 0x59],
  [0x29c08086, 0x90],
]);
const PAM_RAM_PRESENT = 0x10; // PAM0 bit 4 (v86's i440FX resets it set)

/** v86's wasm memories whose RAM v86RamOptions set aside itself, with its size. */
const ownRam = new WeakMap<WebAssembly.Memory, number>();

/** What v86RamOptions gives the V86 constructor. */
export interface V86RamOptions {
  memory_size: number;
  /** Instantiates v86's wasm (v86's `wasm_fn` option, used instead of `wasm_path`). */
  wasm_fn: (imports: WebAssembly.Imports) => Promise<WebAssembly.Exports>;
}

/**
 * The V86 constructor options that give v86 the machine's RAM below 4 GiB
 * (`machine.ramLayout.below4g`), with `wasm` the compiled v86.wasm. Up to 2 GiB - 128 KiB this
 * is v86's own memory_size. Beyond that v86 cannot allocate RAM itself: the instantiation grows
 * v86's wasm memory by the whole low RAM, points v86's RAM at it, and attachToV86 gives v86 the
 * full size. Host memory is only used for the pages the guest touches. RAM above 4 GiB is never
 * backed: firmware is told of it (fw_cfg etc/e820, CMOS) and does not touch it, and v86's
 * physical addresses end at 4 GiB.
 */
export function v86RamOptions(machine: Machine, wasm: WebAssembly.Module): V86RamOptions {
  const below = machine.ramLayout.below4g;
  if (below % MMAP_CHUNK !== 0 || below < 2 ** 20 || below > V86_MAX_RAM) {
    throw new MachbusError(
      "embed-ram",
      `v86 takes RAM below 4 GiB in whole 128 KiB, from 1 MiB to ${V86_MAX_RAM / 2 ** 20} MiB; this machine has ${below} bytes there`,
    );
  }
  if (below > V86_OWN_MAX_RAM) {
    // Fail here, with the machine's name for it, rather than inside v86's start-up.
    try {
      new WebAssembly.Memory({ initial: Math.ceil(below / WASM_PAGE) });
    } catch {
      throw new MachbusError(
        "embed-ram",
        `v86 needs a wasm memory of over ${below / 2 ** 20} MiB for this machine's RAM below 4 GiB; this host gives none`,
      );
    }
  }
  return {
    memory_size: Math.min(below, V86_OWN_MAX_RAM),
    wasm_fn: async (imports) => {
      const { exports } = await WebAssembly.instantiate(wasm, imports);
      if (below <= V86_OWN_MAX_RAM) return exports;
      const wasmExports = exports as unknown as V86WasmExports;
      return { ...exports, allocate_memory: () => allocateLargeRam(wasmExports, below) };
    },
  };
}

/**
 * v86's allocate_memory cannot take 2 GiB or more (Rust's Layout is limited to isize::MAX on
 * wasm32). Lets v86 allocate a token 128 KiB, so that its RAM pointer (a Rust static) holds that
 * block's address; grows the wasm memory by `size` bytes; and moves the pointer to the new
 * pages. The static is the word holding the token's address for which v86's own read8 then reads
 * the new pages. Returns the RAM's offset in wasm memory, as allocate_memory does.
 */
function allocateLargeRam(exports: V86WasmExports, size: number): number {
  const { memory } = exports;
  const token = exports.allocate_memory(MMAP_CHUNK) >>> 0;
  const base = memory.buffer.byteLength;
  memory.grow(Math.ceil(size / WASM_PAGE));
  const words = new Uint32Array(memory.buffer, 0, token >>> 2);
  const bytes = new Uint8Array(memory.buffer);
  const probe = 0x1000; // RAM for read8 (below memory_size, outside the VGA window)
  bytes[base + probe] = 0xa5;
  try {
    for (let i = 0; i < words.length; i++) {
      if (words[i] !== token) continue;
      words[i] = base;
      if ((exports.read8(probe) & 0xff) === 0xa5) {
        ownRam.set(memory, size);
        return base;
      }
      words[i] = token;
    }
  } finally {
    bytes[base + probe] = 0;
  }
  throw new MachbusError("embed-ram", "v86RamOptions: this v86 build keeps its RAM pointer where machbus cannot find it");
}

export interface V86AttachOptions {
  /**
   * Sets PAM0 bit 4 of the host bridge (i440FX or MCH) before the first instruction (default true). A v86 limitation:
   * v86 cannot execute from memory above RAM, and with QEMU's PAM0 of 0 SeaBIOS calls itself
   * through the high flash alias. With the bit set it makes the BIOS writable directly and
   * writes the same final PAM values as on QEMU.
   */
  pamWorkaround?: boolean;
  /** What a guest reset request (PIIX3 0xCF9) does; default: reset the machine and reboot v86's CPU. */
  onResetRequest?: () => void;
  /** Told when a memory BAR maps where v86 cannot route it (see UnroutableBar.reason). */
  onUnroutable?: (bar: UnroutableBar) => void;
}

export interface UnroutableBar {
  readonly device: string;
  readonly bdf: string;
  readonly bar: number;
  readonly address: bigint;
  readonly size: number;
  readonly reason: string;
}

export interface V86Attachment {
  /** Gives every port and memory chunk back to v86 as it was, and stops listening. */
  detach(): void;
  /** Memory BARs mapped now that v86 cannot route. */
  unroutable(): readonly UnroutableBar[];
}

/**
 * Puts `machine` under a v86 emulator: every I/O port the machine decodes (config mechanism,
 * board devices, I/O BARs and register blocks as the guest maps them) is served by
 * `machine.io`, which splits accesses as QEMU does; memory BARs go to `machine.memory` where
 * v86 can route them; the machine's interrupt lines drive v86's PIC. Every other port stays
 * v86's. Call it from the "emulator-ready" listener, before the first instruction.
 */
export function attachToV86(emulator: object, machine: Machine, options: V86AttachOptions = {}): V86Attachment {
  const cpu = (emulator as { v86?: { cpu?: V86Cpu } }).v86?.cpu;
  if (!cpu?.io?.ports) {
    throw new MachbusError("embed-not-ready", "attachToV86: the emulator has no CPU yet; attach from its 'emulator-ready' listener");
  }
  giveRam(cpu, machine);
  const io = cpu.io;
  const mio = machine.io;
  const mmem = machine.memory;
  const owner = { name: "machbus" }; // what v86's debug build names in port messages

  // ---- ports: claimed while anything of the machine decodes them ----
  const ports = new Map<number, { count: number; saved: V86PortEntry }>();
  const read8: PortRead = (port) => mio.read(port, 1);
  const read16: PortRead = (port) => mio.read(port, 2);
  const read32: PortRead = (port) => mio.read(port, 4) | 0;
  const claimPort = (port: number): void => {
    const claim = ports.get(port);
    if (claim) {
      claim.count++;
      return;
    }
    ports.set(port, { count: 1, saved: io.ports[port]! });
    // A fresh entry with all six handlers: v86 keeps sizes one does not pass, bound to our object.
    io.ports[port] = io.create_empty_entry();
    io.register_read(port, owner, read8, read16, read32);
    io.register_write(
      port,
      owner,
      (v) => mio.write(port, 1, v),
      (v) => mio.write(port, 2, v),
      (v) => mio.write(port, 4, v),
    );
  };
  const releasePort = (port: number): void => {
    const claim = ports.get(port);
    if (!claim || --claim.count > 0) return;
    io.ports[port] = claim.saved;
    ports.delete(port);
  };
  const routePorts = (base: number, size: number, claim: boolean): void => {
    for (let p = base; p < Math.min(base + size, 0x10000); p++) (claim ? claimPort : releasePort)(p);
  };

  // ---- memory: whole 128 KiB chunks, each dispatched by address into machine.memory ----
  const chunks = new Map<number, { count: number; saved: [MmapRead?, MmapWrite?, MmapRead?, MmapWrite?] }>();
  const unroutable: UnroutableBar[] = [];
  const mread8: MmapRead = (a) => mmem.read(a >>> 0, 1);
  const mwrite8: MmapWrite = (a, v) => mmem.write(a >>> 0, 1, v);
  const mread32: MmapRead = (a) => mmem.read(a >>> 0, 4) | 0;
  const mwrite32: MmapWrite = (a, v) => mmem.write(a >>> 0, 4, v);
  const claimChunk = (index: number): void => {
    const claim = chunks.get(index);
    if (claim) {
      claim.count++;
      return;
    }
    const saved = [
      cpu.memory_map_read8[index],
      cpu.memory_map_write8[index],
      cpu.memory_map_read32[index],
      cpu.memory_map_write32[index],
    ] as const;
    chunks.set(index, { count: 1, saved: [...saved] });
    io.mmap_register(index * MMAP_CHUNK, MMAP_CHUNK, mread8, mwrite8, mread32, mwrite32);
  };
  const releaseChunk = (index: number): void => {
    const claim = chunks.get(index);
    if (!claim || --claim.count > 0) return;
    // v86 has no unmap: put the previous handlers back by hand.
    [cpu.memory_map_read8[index], cpu.memory_map_write8[index], cpu.memory_map_read32[index], cpu.memory_map_write32[index]] = claim.saved;
    chunks.delete(index);
  };
  const lfbSize = cpu.devices?.vga?.vga_memory_size ?? 0;
  const whyUnroutable = (address: bigint, size: number): string | null => {
    const ramTop = cpu.memory_size[0]!;
    const end = address + BigInt(size);
    if (end > 1n << 32n) return "above 4 GiB (v86's memory map is 32-bit)";
    if (address < BigInt(ramTop)) return `below the top of v86's RAM (0x${ramTop.toString(16)}), which v86 never routes to devices`;
    if (end > BigInt(V86_BIOS_ALIAS)) return "in the top 1 MiB, v86's BIOS alias";
    if (address < BigInt(V86_VGA_LFB + lfbSize) && end > BigInt(V86_VGA_LFB)) {
      return `in v86's VGA framebuffer (0x${V86_VGA_LFB.toString(16)}, ${lfbSize} bytes), which v86 serves itself`;
    }
    return null;
  };
  const routeChunks = (address: bigint, size: number, claim: boolean): void => {
    const first = Number(address) / MMAP_CHUNK;
    for (let i = Math.floor(first); i * MMAP_CHUNK < Number(address) + size; i++) (claim ? claimChunk : releaseChunk)(i);
  };
  const routeMemory = (e: BarMappingEvent, address: bigint, claim: boolean): void => {
    const why = whyUnroutable(address, e.size);
    if (why !== null) {
      const i = unroutable.findIndex((u) => u.bdf === e.bdf && u.bar === e.bar && u.address === address);
      if (!claim) {
        if (i >= 0) unroutable.splice(i, 1);
        return;
      }
      const report = { device: e.device, bdf: e.bdf, bar: e.bar, address, size: e.size, reason: why };
      unroutable.push(report);
      options.onUnroutable?.(report);
      return;
    }
    routeChunks(address, e.size, claim);
  };

  // ---- following the guest ----
  const onBar = (e: BarMappingEvent): void => {
    const route = (address: bigint, claim: boolean): void =>
      e.space === "io" ? routePorts(Number(address), e.size, claim) : routeMemory(e, address, claim);
    if (e.oldAddress !== null) route(e.oldAddress, false);
    if (e.newAddress !== null) route(e.newAddress, true);
  };
  // Board blocks: PM registers in I/O space; ECAM and the ICH9 RCRB in memory, where v86 can route them.
  const routeRegion = (space: "io" | "memory", address: number, size: number, claim: boolean): void => {
    if (space === "io") routePorts(address, size, claim);
    else if (whyUnroutable(BigInt(address), size) === null) routeChunks(BigInt(address), size, claim);
  };
  const onRegion = (e: RegionMappingEvent): void => {
    if (e.oldAddress !== null) routeRegion(e.space, e.oldAddress, e.size, false);
    if (e.newAddress !== null) routeRegion(e.space, e.newAddress, e.size, true);
  };
  const onIrq = (e: IrqEvent): void => (e.level ? cpu.device_raise_irq(e.line) : cpu.device_lower_irq(e.line));
  const applyPamWorkaround = (): void => {
    if (options.pamWorkaround === false) return;
    const latch = machine.host.latch;
    const pamReg = PAM0_BY_HOST_BRIDGE.get(machine.configRead(0, 0, 0));
    if (pamReg !== undefined) {
      const pam0 = machine.configRead(0, 0, pamReg, 1);
      if (!(pam0 & PAM_RAM_PRESENT)) machine.configWrite(0, 0, pamReg, 1, pam0 | PAM_RAM_PRESENT);
    }
    mio.write(0xcf8, 4, latch); // these config cycles must leave no trace in the guest's latch
  };
  const onReset =
    options.onResetRequest ??
    ((): void => {
      machine.reset();
      applyPamWorkaround();
      cpu.reboot_internal();
    });

  /** The machine events the adapter follows: subscribed on attach, unsubscribed on detach. */
  const follow = (how: "on" | "off"): void => {
    const events = machine.events;
    events[how]("bar-mapped", onBar);
    events[how]("bar-unmapped", onBar);
    events[how]("region-mapped", onRegion);
    events[how]("region-unmapped", onRegion);
    events[how]("irq", onIrq);
    events[how]("reset-request", onReset);
  };

  const restoreAcpi = silenceV86Acpi(cpu);
  claimCurrent(machine, claimPort, (e, address) => routeMemory(e, address, true));
  for (const { region, base } of machine.memory.regions()) routeRegion("memory", base, region.size, true);
  follow("on");
  applyPamWorkaround();

  return {
    detach() {
      follow("off");
      for (const [port, { saved }] of ports) io.ports[port] = saved;
      ports.clear();
      for (const index of [...chunks.keys()]) {
        chunks.get(index)!.count = 1;
        releaseChunk(index);
      }
      unroutable.length = 0;
      restoreAcpi(); // last: the claims above gave back the entries it had put in place
    },
    unroutable: () => [...unroutable],
  };
}

/** Where v86's own ACPI device answers: PM1 and the PM timer at 0xb000, GPE0 at 0xafe0. */
const V86_ACPI_PORTS = [...Array.from({ length: 12 }, (_, i) => 0xb000 + i), 0xafe0, 0xafe1, 0xafe2, 0xafe3];

/**
 * v86's `acpi` option brings its APIC and I/O APIC, and also an ACPI device of its own that
 * is not on machbus's bus: its timer would lower IRQ 9 (the machine's SCI) every tick, and its
 * ports answer where nothing decodes on QEMU. Its timer stops and its ports read as unassigned
 * until the returned function puts both back. machbus claims any of those ports it decodes.
 */
function silenceV86Acpi(cpu: V86Cpu): () => void {
  const acpi = cpu.devices?.acpi;
  if (!acpi) return () => {};
  const timer = acpi.timer;
  acpi.timer = () => 100; // v86's own period, in ms
  const saved = V86_ACPI_PORTS.map((p) => cpu.io.ports[p]!);
  for (const p of V86_ACPI_PORTS) cpu.io.ports[p] = cpu.io.create_empty_entry();
  return () => {
    acpi.timer = timer;
    V86_ACPI_PORTS.forEach((p, i) => (cpu.io.ports[p] = saved[i]!));
  };
}

/**
 * Makes v86's RAM the machine's RAM below 4 GiB: the full size where v86RamOptions set it aside,
 * and the CMOS bytes the board's firmware reads for the RAM layout (v86 filled them from its own size).
 */
function giveRam(cpu: V86Cpu, machine: Machine): void {
  const below = machine.ramLayout.below4g;
  const own = ownRam.get(cpu.wasm_memory);
  if (own !== undefined && own !== below) {
    throw new MachbusError("embed-ram", `attachToV86: v86's RAM was set aside for ${own} bytes, the machine has ${below} below 4 GiB`);
  }
  if (own !== undefined) cpu.memory_size[0] = below;
  if (cpu.memory_size[0] !== below) {
    throw new MachbusError(
      "embed-ram",
      `attachToV86: v86 has ${cpu.memory_size[0]} bytes of RAM, the machine ${below} below 4 GiB; create v86 with v86RamOptions(machine, wasm)`,
    );
  }
  const rtc = cpu.devices?.rtc;
  for (const [index, value] of machine.type.board.cmosBytes?.(machine.ramLayout) ?? []) rtc?.cmos_write(index, value);
}

/**
 * Claims what the machine decodes already: its fixed regions, I/O and memory BARs mapped now,
 * and any other port it answers (a board block such as PIIX4's PM registers, once for each).
 */
function claimCurrent(
  machine: Machine,
  claimPort: (port: number) => void,
  routeMemory: (e: BarMappingEvent, address: bigint) => void,
): void {
  const count = new Uint16Array(0x10000);
  const cover = (base: number, size: number): void => {
    for (let p = base; p < Math.min(base + size, 0x10000); p++) count[p]!++;
  };
  for (const { region, base } of machine.io.regions()) cover(base, region.size);
  for (const bus of machine.buses()) {
    for (const fn of bus) {
      for (const bar of fn.bars) {
        if (!bar?.mapped) continue;
        if (bar.isIo) cover(Number(bar.address), bar.size);
        else {
          const device = fn.owner.id ?? fn.owner.driver;
          const space = "memory" as const;
          routeMemory(
            {
              device,
              driver: fn.owner.driver,
              bdf: fn.bdf,
              bar: bar.index,
              space,
              size: bar.size,
              oldAddress: null,
              newAddress: bar.address,
            },
            bar.address,
          );
        }
      }
    }
  }
  for (let p = 0; p < 0x10000; p++) {
    if (count[p] === 0 && machine.io.resolve(p) !== null) count[p] = 1;
    for (let n = 0; n < count[p]!; n++) claimPort(p);
  }
}
