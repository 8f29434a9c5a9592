import "reflect-metadata";
import { EventEmitter } from "eventemitter3";
import { container as rootContainer, type DependencyContainer } from "tsyringe";
import { MachbusError, isMachbusError } from "../errors.js";
import { own } from "../own.js";
import type { MachineEvents } from "../events.js";
import { AddressSpace, type OverlapReport } from "../memory/address-space.js";
import type { PciBridgeDevice } from "../pci/bridge.js";
import { PciBus, type MapIrq } from "../pci/bus.js";
import { IsaDevice } from "../isa/device.js";
import { DRIVER_INFO, PciDevice } from "../pci/device.js";
import type { PciFunction } from "../pci/function.js";
import { PciHost } from "../pci/host.js";
import { loadSnapshot, saveSnapshot } from "../state/snapshot.js";
import type { SlotAllocator, SlotRequest } from "./allocator.js";
import { DEFAULT_POLICY, PolicyCatalogue, createPolicy, type PolicyClassLike } from "./allocation-policy.js";
import { checkOnBus, checkPlacementShape, plannedDevice } from "./placement.js";
import { builtinPolicies } from "./policies/index.js";
import { MacAddresses } from "./mac-addresses.js";
import { formatDeviceSpec, parseDeviceSpec, parseGlobal, parseOptionList, type DeviceSpec, type GlobalProperty } from "./device-spec.js";
import { builtinDrivers } from "../../devices/index.js";
import { builtinMachineTypes } from "../../machines/index.js";
import { DriverCatalogue, type DeviceClass, type DriverClass, type DriverInfo, type MachineDevice } from "./drivers.js";
import type { HostConfig, HostDrive } from "./host-config.js";
import type { LinuxBoot } from "./linux-boot.js";
import { isBoardChip, type PlacedChip } from "./board-chips.js";
import { BusDevice } from "../storage/bus-device.js";
import { ChildBus } from "../storage/child-bus.js";
import { DEFAULT_IMAGE_SIZE } from "../storage/block-conf.js";
import { parseDrives, type LegacyDrive } from "../storage/legacy-drives.js";
import type { MachineType, MachineTypeRegistry, RamLayout } from "./machine-type.js";
import { parseProperty, type PropertySchema } from "./properties.js";
import {
  CLOCK,
  DEVICE_PROPS,
  EVENTS,
  LINUX_BOOT,
  MAC_ADDRESSES,
  MACHINE,
  PLUG_BUS,
  type Clock,
  IO_SPACE,
  MACHINE_CLASS,
  MEMORY_SPACE,
  PCI_HOST,
  RAM_LAYOUT,
  RAM_SIZE,
  ROOT_BUS,
  SLOT_ALLOCATOR,
} from "./tokens.js";

export interface MachineOptions {
  /** Machine type or alias, optionally with board options: "pc", "pc-qemu-7.2,ecam=0xb0000000". */
  machine?: string;
  /** Device specs, plugged in order after the board's own devices. */
  devices?: readonly (string | DeviceSpec)[];
  /** `DRIVER.PROP=VALUE` overrides (QEMU's -global). */
  globals?: readonly (string | GlobalProperty)[];
  /** Guest RAM: bytes, or QEMU's -m syntax ("64M", "1G"; a bare number is MiB). Default 128 MiB. */
  memory?: string | number;
  /**
   * The device models this machine can build: a catalogue (`new DriverCatalogue([...])`,
   * `builtinDrivers.without(...)`), or classes to add to `builtinDrivers` (the default). The
   * board's own chips are always added.
   */
  drivers?: DriverCatalogue | readonly DeviceClass[];
  /** Host backends devices refer to by name (drive=, netdev=); never guest-visible. */
  host?: HostConfig;
  /**
   * QEMU's `-drive` options, in order: `if=none` ones are host drives (added to the host config);
   * `if=ide` (the pc default) and `if=virtio` ones also make their devices, as QEMU does.
   */
  drives?: readonly string[];
  /**
   * The size in bytes of an image file, or undefined when unknown: what QEMU reads from the image
   * (a drive's guessed geometry depends on it). The CLI asks the file system; default: 1 MiB each.
   */
  imageSize?: (file: string) => number | undefined;
  /** Where time comes from (the ACPI PM timer counts with it); default: the host's monotonic clock. */
  clock?: Clock;
  /**
   * Slot-allocation policy: a spec `NAME[,KEY=VALUE]...` ("auto-bridge", "hotplug-reserve,free=4")
   * built in the machine's container, or an instance. Default "qemu" (QEMU's first fit).
   */
  allocator?: string | SlotAllocator;
  /**
   * The policies `allocator` names: a catalogue, or policy classes to add to `builtinPolicies`
   * (the default).
   */
  policies?: PolicyCatalogue | readonly PolicyClassLike[];
  /** The machine types `machine` is looked up in (default `builtinMachineTypes`). */
  machineTypes?: MachineTypeRegistry;
  /** A Linux kernel for firmware to boot, as QEMU's -kernel/-initrd/-append hand it over (fw_cfg and linuxboot.bin). */
  linuxBoot?: LinuxBoot;
  /**
   * A COM1 as QEMU's -serial adds it (isa-serial at 0x3f8, IRQ 4): the ACPI tables list it. The
   * port itself is the embedder's (v86's UART); `machbus boot --kernel` streams it.
   */
  serial?: boolean;
  /**
   * How the I/O space finds a port's handler. "tables" (the default): a slot per port, so a
   * config cycle costs a load and a call; the 64 Ki slots take about 1.5 MB and 6 ms to build.
   * "search": a binary search of the space's flat view, built in microseconds, for machines
   * made in bulk that no CPU runs (an experiment's runs). Guests see no difference.
   */
  portDispatch?: "tables" | "search";
}

/** Where a device sits and what made it: what `info pci`, dumps and the monitor need. */
export interface PlacedDevice {
  readonly device: MachineDevice;
  readonly info: DriverInfo;
  /** Properties as resolved (defaults, compat, globals, spec), by name. */
  readonly props: Readonly<Record<string, unknown>>;
  readonly onboard: boolean;
  /** The policy that chose the address, for a device plugged without `addr=`. */
  readonly placedBy?: string;
  /** The policy that added the device to make room (auto-bridge's bridges). */
  readonly addedBy?: string;
}

const DEFAULT_RAM = 128 * 1024 * 1024;
const MEMORY_SPACE_SIZE = 2 ** 53;

/**
 * A machine: a machine type's board with its PCI hierarchy, address spaces and devices, built
 * in its own DI container. Creation and every later change are atomic: a bad spec or an
 * impossible address throws a MachbusError and leaves the machine as it was.
 */
export class Machine {
  readonly events = new EventEmitter<MachineEvents>();
  readonly io: AddressSpace;
  readonly memory = new AddressSpace("memory", MEMORY_SPACE_SIZE);
  readonly container: DependencyContainer;
  readonly type: MachineType;
  readonly ramSize: number;
  /** Where the board put the RAM: the host backs `below4g` bytes from address 0 and `above4g` from 4 GiB. */
  readonly ramLayout: RamLayout;
  /** Whether the machine has a COM1 (MachineOptions.serial). */
  readonly serial: boolean;
  /** Board options as resolved (e.g. ecam). */
  readonly boardOptions: Readonly<Record<string, unknown>>;
  /** Host configuration: the backends devices name; kept apart from everything guest-visible. */
  readonly hostConfig: HostConfig;
  rootBus!: PciBus;
  host!: PciHost;
  /** The board's ISA bus name ("isa.0" on pc), or null on a board without one. */
  isaBus: string | null = null;
  /** The board's devices machbus does not model, with their properties resolved (for `info qtree`). */
  boardChips: readonly PlacedChip[] = [];
  /** The slot-allocation policy (also under SLOT_ALLOCATOR in the container). */
  readonly allocator: SlotAllocator;
  /** The spec that recreates it ("qemu", "hotplug-reserve,free=4"); a policy given as an instance: its name. */
  readonly allocatorSpec: string;

  /** Every device model this machine can build: MachineOptions.drivers plus the board's chips. */
  readonly drivers: DriverCatalogue;
  /** Every warning since the machine was created (also emitted as "warning" events), as QEMU prints them. */
  readonly warnings: string[] = [];
  /** Where the device being plugged came from ("-device SPEC"), for its warnings. */
  private warningContext: string | null = null;
  private readonly placed: PlacedDevice[] = [];
  private readonly globals: GlobalProperty[];
  private buildingBoard = false;
  /** The child container device classes are resolved in (see plug). */
  private deviceScope: DependencyContainer | null = null;
  /** Child buses by controller, each list in creation order. */
  private readonly childBusMap = new Map<MachineDevice, ChildBus[]>();
  /** Per bus type: the next number of an anonymous bus ("scsi.1"), and how many buses there were. */
  private readonly anonymousBuses = new Map<string, number>();
  private readonly busOrdinals = new Map<string, number>();
  /** Which device holds each host drive (QEMU's blk_attach_dev): a drive serves one device. */
  private readonly driveUsers = new Map<string, MachineDevice>();
  /** The `-drive` options with an interface, and the ids of all `-drive` ones (QEMU deletes those with their device). */
  private readonly legacyDrives: readonly LegacyDrive[];
  private readonly commandLineDrives: ReadonlySet<string>;
  private readonly imageSizeOf: ((file: string) => number | undefined) | undefined;

  private constructor(options: MachineOptions) {
    const dispatch = options.portDispatch ?? "tables";
    if (dispatch !== "tables" && dispatch !== "search") {
      throw new MachbusError("bad-property-value", `portDispatch ${JSON.stringify(String(dispatch))} is not "tables" or "search"`);
    }
    this.io = new AddressSpace("io", 0x10000, { dispatchTables: dispatch === "tables" });
    const registry = options.machineTypes ?? builtinMachineTypes;
    const { head, pairs } = parseOptionList(options.machine ?? registry.default().name, "machine");
    // QEMU's -machine type=NAME is the same as the leading NAME (the last one given wins).
    const typeName = [...pairs].reverse().find(([k]) => k === "type")?.[1] ?? head;
    this.type = typeName ? registry.resolve(typeName) : registry.default();
    this.warningContext = `-machine ${options.machine}`;
    for (const [k, v] of pairs) if (k === "accel") this.ignoreAccel(v);
    this.warningContext = null;
    const boardPairs = pairs.filter(([k]) => k !== "type" && k !== "accel");
    this.boardOptions = resolveOptions(`machine ${this.type.name}`, this.type.board.properties, boardPairs);
    this.ramSize = parseMemorySize(options.memory);
    const below4g = this.type.board.ramBelow4g?.(this.ramSize, this.boardOptions, this.type.machineClass) ?? this.ramSize;
    this.ramLayout = { size: this.ramSize, below4g, above4g: this.ramSize - below4g };
    this.serial = options.serial ?? false;
    const parsed = parseDrives(options.drives ?? [], this.type.board.driveInterface ?? "none");
    this.legacyDrives = parsed.legacy;
    this.commandLineDrives = new Set(parsed.drives.map((d) => d.id));
    this.imageSizeOf = options.imageSize;
    this.hostConfig = {
      drives: [...(options.host?.drives ?? []), ...parsed.drives],
      netdevs: [...(options.host?.netdevs ?? [])],
    };
    const ids = [...this.hostConfig.drives!, ...this.hostConfig.netdevs!].map((b) => b.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new MachbusError("duplicate-id", `host backend id '${dup}' is used twice`);
    this.globals = (options.globals ?? []).map((g) => (typeof g === "string" ? parseGlobal(g) : g));
    const given = options.drivers ?? [];
    const catalogue = given instanceof DriverCatalogue ? given : builtinDrivers.with(...given);
    this.drivers = catalogue.with(...(this.type.board.drivers ?? []));

    this.container = rootContainer.createChildContainer();
    this.container.registerInstance(EVENTS, this.events);
    this.container.registerInstance(IO_SPACE, this.io);
    this.container.registerInstance(MEMORY_SPACE, this.memory);
    this.container.registerInstance(RAM_SIZE, this.ramSize);
    this.container.registerInstance(RAM_LAYOUT, this.ramLayout);
    this.container.registerInstance(MACHINE_CLASS, this.type.machineClass);
    this.container.registerInstance(MAC_ADDRESSES, new MacAddresses());
    this.container.registerInstance(LINUX_BOOT, { boot: options.linuxBoot ?? null });
    this.container.registerInstance(CLOCK, options.clock ?? { nowNs: () => performance.now() * 1e6 });
    this.container.registerInstance(MACHINE, this);
    const policy =
      typeof options.allocator === "object"
        ? { allocator: options.allocator, spec: options.allocator.name }
        : createPolicy(
            options.allocator ?? DEFAULT_POLICY,
            this.container,
            options.policies instanceof PolicyCatalogue ? options.policies : builtinPolicies.with(...(options.policies ?? [])),
          );
    this.allocator = policy.allocator;
    this.allocatorSpec = policy.spec;
    this.container.registerInstance(SLOT_ALLOCATOR, this.allocator);
    this.io.onOverlap((r) => this.events.emit("mapping-overlap", r));
    this.memory.onOverlap((r) => this.events.emit("mapping-overlap", r));
  }

  /** Builds a machine; throws (and builds nothing) on any bad option, spec or address. */
  static create(options: MachineOptions = {}): Machine {
    const m = new Machine(options);
    m.buildingBoard = true;
    m.type.board.build(m, m.boardOptions);
    m.buildingBoard = false;
    if (!m.rootBus) throw new MachbusError("machine-type-invalid", `board ${m.type.board.name} created no PCI root bus`);
    m.boardChips = m.resolveBoardChips();
    m.plugLegacyIdeDrives();
    const early = m.type.machineClass.boardMakesDriveControllers;
    if (early) {
      m.plugLegacyScsiDrives();
      m.plugLegacyVirtioDrives();
    }
    if (m.allocator.prepare) {
      const specs = (options.devices ?? []).flatMap((spec) => {
        try {
          return [plannedDevice(typeof spec === "string" ? parseDeviceSpec(spec) : spec)];
        } catch {
          return []; // a malformed spec is reported when it is plugged
        }
      });
      m.allocator.prepare(specs);
    }
    for (const spec of options.devices ?? []) {
      const where = typeof spec === "string" ? `-device ${spec}` : (spec.where ?? `-device ${formatDeviceSpec(spec)}`);
      m.warningContext = where;
      try {
        m.plug(spec, { hotplug: false });
      } catch (e) {
        throw isMachbusError(e) ? e.within(where) : e;
      } finally {
        m.warningContext = null;
      }
    }
    if (!early) m.plugLegacyVirtioDrives();
    for (const drive of m.legacyDrives) {
      if (!m.driveUsers.has(drive.id)) {
        throw new MachbusError(
          "drive-unsupported",
          `machine type does not support if=${drive.interface},bus=${drive.bus},unit=${drive.unit}`,
        ).within(drive.where);
      }
    }
    m.reset();
    return m;
  }

  /**
   * Board use: the root bus with the board's INTx mapping, and config mechanism #1 at 0xCF8.
   * A PCI Express root bus ("pcie.0" on q35) lets config cycles reach 4 KiB through ECAM.
   */
  createRootBus(mapIrq: MapIrq, { name = "pci.0", express = false }: { name?: string; express?: boolean } = {}): PciBus {
    this.rootBus = new PciBus(name, this.io, this.memory, this.events, mapIrq);
    this.rootBus.express = express;
    this.rootBus.allowsExtendedConfig = express;
    this.host = new PciHost(this.rootBus);
    this.container.registerInstance(ROOT_BUS, this.rootBus);
    this.container.registerInstance(PCI_HOST, this.host);
    this.io.map(this.host.addressRegion, 0xcf8);
    this.io.map(this.host.dataRegion, 0xcfc);
    return this.rootBus;
  }

  // ---- devices ----

  /** Adds a device at run time (monitor device_add): hotplug rules apply, events are emitted. */
  addDevice(spec: string | DeviceSpec): MachineDevice {
    const before = this.placed.length;
    const device = this.plug(spec, { hotplug: true });
    // Devices a policy added to make room come first, then the device itself.
    for (const { device: d, info } of this.placed.slice(before)) {
      if (d instanceof PciDevice) {
        if (!d.function.bus!.hotplugHandler) this.hotplugController?.hotplugged(d.function);
        this.events.emit("device-added", { id: d.id, driver: info.name, bdf: d.function.bdf });
      }
      if (d instanceof BusDevice)
        this.events.emit("device-added", { id: d.id, driver: info.name, bdf: this.ownerBdf(d.bus!), address: d.address });
    }
    return device;
  }

  /** QEMU's accel=: checked as QEMU checks it, then ignored (machbus runs no guest CPU of its own). */
  private ignoreAccel(value: string): void {
    const bad = value.split(":").find((a) => !QEMU_ACCELERATORS.has(a));
    if (bad !== undefined) throw new MachbusError("bad-property-value", `invalid accelerator ${bad}`, `-machine accel=${value}`);
    this.warn(`accel=${value} ignored: machbus has no accelerator to choose (it runs no guest CPU of its own)`);
  }

  /** Records and emits a warning about the device being plugged (QEMU's warn_report, which goes on). */
  private warn(message: string): void {
    const line = `${this.warningContext ? `${this.warningContext}: ` : ""}warning: ${message}`;
    this.warnings.push(line);
    this.events.emit("warning", { message: line });
  }

  /**
   * Runs `plug` and warns about every mapping it made over ports or addresses another device
   * holds: QEMU accepts such a user device (e.g. isa-debugcon,iobase=0xcf8) and it hides the other.
   */
  private pluggedWarningOverlaps(plug: () => void): void {
    if (this.buildingBoard) return plug();
    const overlaps: OverlapReport[] = [];
    const note = (r: OverlapReport): number => overlaps.push(r);
    this.events.on("mapping-overlap", note);
    try {
      plug();
    } finally {
      this.events.off("mapping-overlap", note);
    }
    for (const r of overlaps) {
      const hex = (n: number): string => `0x${n.toString(16)}`;
      const what = r.space === "io" ? "I/O port" : "address";
      const range = (base: number, size: number): string => (size === 1 ? hex(base) : `${hex(base)}-${hex(base + size - 1)}`);
      for (const o of r.overlaps) {
        const other = o.owner && o.owner !== o.region ? `${o.region} of ${o.owner}` : o.region;
        this.warn(`${what} ${range(r.base, r.size)} overlaps ${other} at ${range(o.base, o.size)}, which it now hides`);
      }
    }
  }

  /** Board use: plugs an onboard device (not user creatable) while the board is being built. */
  addOnboardDevice(spec: string | DeviceSpec): MachineDevice {
    if (!this.buildingBoard) throw new MachbusError("not-hotpluggable", "onboard devices are added by the board only");
    return this.plug(spec, { hotplug: false });
  }

  /** Removes a device by id (monitor device_del), with the devices on its child buses. */
  removeDevice(id: string): void {
    const entry = this.placed.find((p) => p.device.id === id);
    if (!entry) throw new MachbusError("unknown-device", `Device '${id}' not found`);
    const { device, info } = entry;
    if (device instanceof BusDevice) {
      if (!device.bus!.hotpluggable) throw new MachbusError("not-hotpluggable", `Bus '${device.bus!.name}' does not support hotplugging`);
      this.unplugChild(entry);
      return;
    }
    if (entry.onboard || !info.hotpluggable || !(device instanceof PciDevice)) {
      throw new MachbusError("not-hotpluggable", `Device '${id}' (${info.name}) does not support hot-unplugging`);
    }
    const fn = device.function;
    const bus = fn.bus!;
    if ((fn.devfn & 7) === 0) {
      for (let f = 1; f < 8; f++) {
        if (bus.get(fn.devfn + f)) {
          throw new MachbusError(
            "not-hotpluggable",
            `Device '${id}': function 0 of slot ${fn.devfn >> 3} can't be removed while functions 1-7 are populated`,
          );
        }
      }
    }
    if ((device as Partial<PciBridgeDevice>).hasSecondaryBus) {
      const secondary = (device as PciBridgeDevice).secondaryBus;
      if (secondary.hasFunctions()) {
        throw new MachbusError("not-hotpluggable", `Device '${id}': bridge still has devices on bus ${secondary.name}`);
      }
    }
    // A PCIe slot asks the guest first (attention button); the guest's power-off completes it.
    if (bus.hotplugHandler?.unplugRequest(fn) === "guest") return;
    // PIIX4's ACPI hotplug on pc: the guest ejects the slot first.
    if (this.hotplugController?.requestUnplug(fn, () => this.finishUnplug(fn))) return;
    this.finishUnplug(fn);
  }

  /**
   * Board use: the hotplug controller of buses without a hotplug handler of their own (PIIX4's
   * ACPI hotplug on pc). `hotplugged` hears of each function device_add put there; `requestUnplug`
   * decides when device_del's device leaves: true when it will call `complete` later (the
   * guest's eject), false to remove it at once; `resetting` runs before a system reset resets
   * the devices (PIIX4 removes those still waiting then).
   */
  hotplugController: {
    hotplugged(fn: PciFunction): void;
    requestUnplug(fn: PciFunction, complete: () => void): boolean;
    resetting(): void;
  } | null = null;

  /**
   * Takes a PCI device off its bus for good, with the devices on its child buses, and reports it
   * (QEMU's DEVICE_DELETED): device_del's last step, or the guest's when it let go of the slot.
   */
  finishUnplug(fn: PciFunction): void {
    const entry = this.placed.find((p) => p.device instanceof PciDevice && p.device.function === fn);
    if (!entry) return; // already gone
    const device = entry.device as PciDevice;
    const { info } = entry;
    const id = device.id;
    const bus = fn.bus!;
    const bdf = fn.bdf;
    // QEMU unrealizes a controller's drives with it.
    for (const childBus of this.childBusesOf(device)) {
      for (const child of [...childBus.children].reverse()) this.unplugChild(this.placement(child)!);
    }
    this.childBusMap.delete(device);
    device.unplugging();
    bus.unplug(fn);
    this.placed.splice(this.placed.indexOf(entry), 1);
    this.releaseDrives(entry);
    this.events.emit("device-deleted", { id, driver: info.name, bdf });
  }

  /** Every device in creation order (onboard first). */
  devices(): readonly PlacedDevice[] {
    return this.placed;
  }

  /** The PCI device with this id. */
  findDevice(id: string): PciDevice | undefined {
    const d = this.placed.find((p) => p.device.id === id)?.device;
    return d instanceof PciDevice ? d : undefined;
  }

  /** The ISA device with this id. */
  findIsaDevice(id: string): IsaDevice | undefined {
    const d = this.placed.find((p) => p.device.id === id)?.device;
    return d instanceof IsaDevice ? d : undefined;
  }

  /** The device with this id on a controller's child bus (a drive). */
  findBusDevice(id: string): BusDevice | undefined {
    const d = this.placed.find((p) => p.device.id === id)?.device;
    return d instanceof BusDevice ? d : undefined;
  }

  /** The child buses `device` made (a controller's IDE channels, SCSI bus), in creation order. */
  childBusesOf(device: MachineDevice): readonly ChildBus[] {
    return this.childBusMap.get(device) ?? [];
  }

  /**
   * Every child bus in the order QEMU searches its device tree (qbus_find_recursive): below the
   * PCI host, each bus's devices newest first, each device's buses newest first, depth first.
   */
  childBuses(): ChildBus[] {
    const out: ChildBus[] = [];
    const walk = (bus: PciBus): void => {
      for (const p of [...this.placed].reverse()) {
        if (!(p.device instanceof PciDevice) || p.device.function.bus !== bus) continue;
        for (const child of [...this.childBusesOf(p.device)].reverse()) out.push(child);
        const bridge = p.device as Partial<PciBridgeDevice>;
        if (bridge.hasSecondaryBus) walk((p.device as PciBridgeDevice).secondaryBus);
      }
    };
    walk(this.rootBus);
    return out;
  }

  /** The host drive called `id`. */
  hostDrive(id: string): HostDrive | undefined {
    return this.hostConfig.drives?.find((d) => d.id === id);
  }

  /** Bytes of the image behind host drive `id` (0 for an empty drive), as MachineOptions.imageSize tells; 1 MiB when it cannot. */
  imageSize(id: string): number {
    const drive = this.hostDrive(id);
    if (!drive?.file) return 0;
    return this.imageSizeOf?.(drive.file) ?? DEFAULT_IMAGE_SIZE;
  }

  placement(device: MachineDevice): PlacedDevice | undefined {
    return this.placed.find((p) => p.device === device);
  }

  /** All buses, root first, depth first. */
  buses(): PciBus[] {
    return [...this.rootBus.walk()];
  }

  /** The bus called `name`: "pci.0" for the root, a bridge's id for its secondary bus. */
  findBus(name: string): PciBus {
    const bus = this.rootBus.busNamed(name);
    if (!bus)
      throw new MachbusError(
        "unknown-bus",
        `Bus '${name}' not found (buses: ${this.buses()
          .map((b) => b.name)
          .join(", ")})`,
      );
    return bus;
  }

  driver(name: string): DriverClass {
    return this.drivers.find(name);
  }

  /**
   * After a snapshot replaced config bytes and device state: routing from the bridges' bus
   * numbers, BAR mappings (with their events), INTx counts, then each device's own derivations.
   */
  stateLoaded(): void {
    this.rootBus.routing!.invalidate();
    for (const bus of this.buses()) {
      for (const fn of bus) {
        fn.updateIrqStatus();
        fn.updateMappings();
      }
    }
    this.rootBus.recountIrqs();
    for (const { device } of this.placed) device.stateLoaded();
  }

  /** Saves every device's state (the snapshot stream, docs/snapshot-format.md). */
  save(): Uint8Array {
    return saveSnapshot(this);
  }

  /** Loads a snapshot, or refuses it naming what is wrong; on refusal the machine is unchanged. */
  load(data: Uint8Array, label = "snapshot"): void {
    loadSnapshot(this, data, label);
  }

  /** System reset (QEMU's qemu_system_reset): every device, then every function's PCI state. */
  reset(): void {
    this.hotplugController?.resetting();
    for (const { device } of this.placed) device.reset();
  }

  // ---- guest access ----

  ioRead(port: number, size: 1 | 2 | 4): number {
    return this.io.read(port, size);
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.io.write(port, size, value);
  }

  memRead(addr: number, size: 1 | 2 | 4): number {
    return this.memory.read(addr, size);
  }

  memWrite(addr: number, size: 1 | 2 | 4, value: number): void {
    this.memory.write(addr, size, value);
  }

  /** A dword config read through mechanism #1, exactly as a guest does it (latch, then data). */
  configRead(bus: number, devfn: number, offset: number, size: 1 | 2 | 4 = 4): number {
    this.io.write(0xcf8, 4, (0x80000000 | (bus << 16) | (devfn << 8) | (offset & 0xfc)) >>> 0);
    return this.io.read(0xcfc + (offset & 3), size);
  }

  configWrite(bus: number, devfn: number, offset: number, size: 1 | 2 | 4, value: number): void {
    this.io.write(0xcf8, 4, (0x80000000 | (bus << 16) | (devfn << 8) | (offset & 0xfc)) >>> 0);
    this.io.write(0xcfc + (offset & 3), size, value);
  }

  // ---- internals ----

  private plug(spec: string | DeviceSpec, { hotplug }: { hotplug: boolean }): MachineDevice {
    const parsed = typeof spec === "string" ? parseDeviceSpec(spec) : spec;
    const cls = this.driver(parsed.driver);
    const info = cls[DRIVER_INFO];
    if (!this.buildingBoard && !info.userCreatable) {
      throw new MachbusError("unknown-driver", `Parameter 'driver' expects a pluggable device type ('${info.name}' is part of the board)`);
    }
    if (hotplug && !info.hotpluggable) {
      // QEMU's qdev_get_device_class says the same for board chips and for devices that can't be hot-plugged.
      throw new MachbusError(
        "not-hotpluggable",
        `Parameter 'driver' expects a pluggable device type ('${info.name}' can't be hot-plugged)`,
      );
    }
    if (parsed.id !== null && this.placed.some((p) => p.device.id === parsed.id)) {
      throw new MachbusError("duplicate-id", `Duplicate device ID '${parsed.id}'`);
    }
    if (info.bus === "ide" || info.bus === "scsi") return this.plugOnChildBus(cls, info, parsed, hotplug);
    const wrongBus = parsed.bus === null ? null : this.busTypeNamed(parsed.bus);
    if (wrongBus !== null && wrongBus !== (info.bus === "isa" ? "ISA" : "PCI")) {
      throw new MachbusError("wrong-bus", `Device '${info.name}' can't go on ${wrongBus} bus`);
    }
    const props = this.resolveProps(info, parsed);
    // One scope for every device, DEVICE_PROPS set to this device's props just before its class
    // is resolved: a fresh child container per device costs more than most devices' own objects.
    const child = (this.deviceScope ??= this.container.createChildContainer());
    child.reset();
    child.registerInstance(DEVICE_PROPS, props);
    if (info.bus === "isa") {
      if (this.isaBus === null || (parsed.bus !== null && parsed.bus !== this.isaBus)) {
        throw new MachbusError(
          "unknown-bus",
          `No '${"ISA"}' bus found for device '${info.name}'${parsed.bus ? ` (bus '${parsed.bus}')` : ""}`,
        );
      }
      const device = child.resolve(cls as unknown as new (...args: any[]) => IsaDevice);
      this.pluggedWarningOverlaps(() => device.plugged());
      this.placed.push({ device, info, props, onboard: this.buildingBoard });
      this.attachDrives(device, info, props);
      return device;
    }
    const requested = parsed.bus === null ? this.rootBus : this.findBus(parsed.bus);
    // QEMU's qdev_device_add refuses a named bus without hotplug before anything else.
    if (hotplug && parsed.bus !== null && !requested.hotpluggable) {
      throw new MachbusError("not-hotpluggable", `Bus '${requested.name}' does not support hotplugging`);
    }
    // A device looks at its bus while it is made (QEMU's realize): PCI Express or not, root or port.
    const build = (plugBus: PciBus): PciDevice => {
      child.reset();
      child.registerInstance(DEVICE_PROPS, props);
      child.registerInstance(PLUG_BUS, plugBus);
      const made = child.resolve(cls as unknown as new (...args: any[]) => PciDevice);
      made.function.hotplugged = hotplug;
      made.addOptionRom();
      return made;
    };
    let device = build(requested);
    const addr = props.addr as number;
    const before = this.placed.length;
    const { bus, devfn } =
      addr >= 0
        ? { bus: requested, devfn: addr }
        : this.allocate({ bus: requested, driver: info.name, id: parsed.id, function: device.function, hotplug });
    // The policy put it on another bus (behind a port it added, say): made again for that bus.
    if (bus !== requested) device = build(bus);
    const fn = device.function;
    try {
      bus.hotplugHandler?.prePlug(fn);
      bus.plug(fn, devfn);
      props.addr = devfn; // the resolved address, also when the allocator chose it
      try {
        device.plugged();
      } catch (e) {
        bus.unplug(fn);
        throw e;
      }
      bus.hotplugHandler?.afterPlug(fn);
    } catch (e) {
      this.unplugAdded(before);
      throw e;
    }
    if (hotplug) device.hotplugReset();
    for (const w of device.buildWarnings ?? []) this.warn(w);
    const placedBy = addr >= 0 ? undefined : this.allocator.name;
    this.placed.push({ device, info, props, onboard: this.buildingBoard, placedBy, addedBy: parsed.addedBy });
    this.createChildBuses(device, info);
    this.attachDrives(device, info, props);
    return device;
  }

  /**
   * A drive onto a controller's bus, in QEMU's order: the bus (named, or the first of its type in
   * the device tree), hotplug, the properties, the address the bus parses and completes, then the
   * device's own checks.
   */
  private plugOnChildBus(cls: DriverClass, info: DriverInfo, parsed: DeviceSpec, hotplug: boolean): BusDevice {
    const type = info.bus === "ide" ? "IDE" : "SCSI";
    let bus: ChildBus | undefined;
    if (parsed.bus === null) {
      bus = this.childBuses().find((b) => b.spec.kind === info.bus);
      if (!bus) throw new MachbusError("unknown-bus", `No '${type}' bus found for device '${info.name}'`);
    } else {
      bus = this.childBusNamed(parsed.bus);
      const other = this.busTypeNamed(parsed.bus);
      if (!other) throw new MachbusError("unknown-bus", `Bus '${parsed.bus}' not found`);
      if (!bus || bus.spec.kind !== info.bus) throw new MachbusError("wrong-bus", `Device '${info.name}' can't go on ${other} bus`);
    }
    if (hotplug && !bus.hotpluggable) throw new MachbusError("not-hotpluggable", `Bus '${bus.name}' does not support hotplugging`);
    const props = this.resolveProps(info, parsed);
    bus.spec.addressing!.assign(bus, props);
    const child = this.container.createChildContainer();
    child.registerInstance(DEVICE_PROPS, props);
    const device = child.resolve(cls as unknown as new (...args: any[]) => BusDevice);
    device.bus = bus;
    bus.children.push(device);
    device.plugged();
    this.placed.push({ device, info, props, onboard: this.buildingBoard });
    this.attachDrives(device, info, props);
    return device;
  }

  private unplugChild(entry: PlacedDevice): void {
    const device = entry.device as BusDevice;
    const bus = device.bus!;
    device.unplugging();
    bus.children.splice(bus.children.indexOf(device), 1);
    this.placed.splice(this.placed.indexOf(entry), 1);
    this.releaseDrives(entry);
    this.events.emit("device-deleted", { id: device.id, driver: entry.info.name, bdf: this.ownerBdf(bus), address: device.address });
  }

  private ownerBdf(bus: ChildBus): string {
    return bus.owner instanceof PciDevice ? bus.owner.function.bdf : "";
  }

  /**
   * The controller's child buses, named as QEMU names them: `<id>.<n>`, or the lower-cased type
   * and a per-type counter. Anonymous controllers cannot be removed, so the numbers never have gaps.
   */
  private createChildBuses(device: MachineDevice, info: DriverInfo): void {
    if (!info.buses.length) return;
    const count = (map: Map<string, number>, type: string): number => {
      const n = map.get(type) ?? 0;
      map.set(type, n + 1);
      return n;
    };
    const buses = info.buses.map((spec, i) => {
      const name = device.id ? `${device.id}.${i}` : `${spec.type.toLowerCase()}.${count(this.anonymousBuses, spec.type)}`;
      return new ChildBus(name, spec, device, count(this.busOrdinals, spec.type));
    });
    this.childBusMap.set(device, buses);
  }

  /** The child bus called `name`. */
  private childBusNamed(name: string): ChildBus | undefined {
    for (const buses of this.childBusMap.values()) {
      const found = buses.find((b) => b.name === name);
      if (found) return found;
    }
    return undefined;
  }

  /** QEMU's type of the bus called `name` ("PCI", "ISA", "SCSI", "i2c-bus"), or null if there is none. */
  private busTypeNamed(name: string): string | null {
    const child = this.childBusNamed(name);
    if (child) return child.type;
    if (this.rootBus.busNamed(name) !== undefined) return "PCI";
    if (name === this.isaBus) return "ISA";
    const qtree = this.type.board.qtree;
    const owned = qtree?.buses.find((b) => b.name === name);
    if (owned) return owned.type;
    for (const { chip } of this.boardChips) {
      const below = chip.buses?.find((b) => b.name === name);
      if (below) return below.type;
    }
    return null;
  }

  /** Records which device holds each host drive it names; QEMU refuses a drive that serves another device. */
  private attachDrives(device: MachineDevice, info: DriverInfo, props: Record<string, unknown>): void {
    for (const [name, def] of Object.entries(info.properties)) {
      if (def.type.link === "drive" && props[name]) this.driveUsers.set(props[name] as string, device);
    }
  }

  /**
   * A removed device lets its drives go; QEMU also deletes a `-drive` drive with its device
   * (blockdev_auto_del), though not when a policy's addition is taken back.
   */
  private releaseDrives(entry: PlacedDevice, { deleteCommandLineDrives = true } = {}): void {
    for (const [name, def] of Object.entries(entry.info.properties)) {
      const id = entry.props[name] as string;
      if (def.type.link !== "drive" || !id || this.driveUsers.get(id) !== entry.device) continue;
      this.driveUsers.delete(id);
      const drives = this.hostConfig.drives!;
      if (deleteCommandLineDrives && this.commandLineDrives.has(id))
        drives.splice(
          drives.findIndex((d) => d.id === id),
          1,
        );
    }
  }

  /** The board's unmodelled chips with their properties: board values, then compat and -global. */
  private resolveBoardChips(): PlacedChip[] {
    return (this.type.board.qtree?.devices ?? []).filter(isBoardChip).map((chip) => ({
      chip,
      props: this.resolveProps(
        { name: chip.type, types: [chip.type, ...(chip.parents ?? [])], properties: chip.properties ?? {} },
        { driver: chip.type, id: null, bus: null, props: [] },
      ),
    }));
  }

  /**
   * `-drive if=ide`: QEMU's pc_init puts them on the board's IDE channels (primary master, slave,
   * secondary master, slave) before any -device, as ide-hd or ide-cd; errors then name no option.
   */
  private plugLegacyIdeDrives(): void {
    const channels = this.childBuses()
      .filter((b) => b.spec.kind === "ide" && this.placement(b.owner)?.onboard)
      .sort((a, b) => a.ordinal - b.ordinal);
    for (let bus = 0; bus < channels.length; bus++) {
      for (let unit = 0; unit < 2; unit++) {
        const drive = this.legacyDrives.find((d) => d.interface === "ide" && d.bus === bus && d.unit === unit);
        if (!drive) continue;
        this.plug(
          {
            driver: drive.media === "cdrom" ? "ide-cd" : "ide-hd",
            id: null,
            bus: channels[bus]!.name,
            props: [
              ["unit", String(unit)],
              ["drive", drive.id],
            ],
          },
          { hotplug: false },
        );
      }
    }
  }

  /**
   * `-drive if=scsi` on the seed-era types (QEMU 0.12's pc_init1): an lsi53c895a for each SCSI
   * bus up to the highest one named, in the first free slots, each drive a scsi-hd or scsi-cd at
   * target `unit` of its bus's controller.
   */
  private plugLegacyScsiDrives(): void {
    const drives = this.legacyDrives.filter((d) => d.interface === "scsi");
    const buses = Math.max(-1, ...drives.map((d) => d.bus)) + 1;
    for (let bus = 0; bus < buses; bus++) {
      const lsi = this.plug({ driver: "lsi53c895a", id: null, bus: null, props: [] }, { hotplug: false });
      const scsi = this.childBusesOf(lsi)[0]!;
      for (const d of drives.filter((x) => x.bus === bus).sort((a, b) => a.unit - b.unit)) {
        const props: [string, string][] = [
          ["scsi-id", String(d.unit)],
          ["drive", d.id],
        ];
        this.plug({ driver: d.media === "cdrom" ? "scsi-cd" : "scsi-hd", id: null, bus: scsi.name, props }, { hotplug: false });
      }
    }
  }

  /** `-drive if=virtio`: a virtio-blk-pci each, after the -device devices (QEMU 7.2 queues them as -device options). */
  private plugLegacyVirtioDrives(): void {
    for (const drive of this.legacyDrives.filter((d) => d.interface === "virtio")) {
      const props: [string, string][] = [["drive", drive.id]];
      const file = this.hostDrive(drive.id)?.file;
      const size = file ? this.imageSizeOf?.(file) : undefined;
      if (size !== undefined && this.drivers.get("virtio-blk-pci")?.[DRIVER_INFO].properties["drive-size"]) {
        props.push(["drive-size", String(size)]);
      }
      try {
        this.plug({ driver: "virtio-blk-pci", id: null, bus: null, props }, { hotplug: false });
      } catch (e) {
        throw isMachbusError(e) ? e.within(drive.where) : e;
      }
    }
  }

  /**
   * Asks the policy for an address and checks its answer; devices it asks to add are plugged
   * (and unplugged again by the caller if the device itself then fails).
   */
  private allocate(request: SlotRequest): { bus: PciBus; devfn: number } {
    const policy = this.allocator.name;
    const plan = checkPlacementShape(policy, request, this.allocator.allocate(request));
    const before = this.placed.length;
    try {
      for (const spec of plan.add) this.plug(spec, { hotplug: request.hotplug });
      const bus = plan.bus === null ? request.bus : this.findBus(plan.bus);
      checkOnBus(policy, request, bus, request.function, plan.devfn);
      return { bus, devfn: plan.devfn };
    } catch (e) {
      this.unplugAdded(before);
      throw isMachbusError(e) && e.code === "unknown-bus"
        ? new MachbusError("allocator-invalid", `allocation policy '${policy}': ${e.message}`)
        : e;
    }
  }

  /** Takes out, newest first, the devices placed after the first `count` (a policy's additions for a device that failed). */
  private unplugAdded(count: number): void {
    for (const entry of this.placed.splice(count).reverse()) {
      this.releaseDrives(entry, { deleteCommandLineDrives: false });
      if (!(entry.device instanceof PciDevice)) continue;
      this.childBusMap.delete(entry.device);
      entry.device.unplugging();
      entry.device.function.bus?.unplug(entry.device.function);
    }
  }

  /** Property values in QEMU's order: driver default, machine compat, -global, then the device spec. */
  private resolveProps(
    info: Pick<DriverInfo, "name" | "types" | "properties">,
    spec: DeviceSpec,
  ): Record<string, unknown> & { id: string | null } {
    const schema = info.properties;
    // A copy of one prebuilt object per driver: every device's props share its shape (a few
    // hundred bytes each, not a dictionary of thousands).
    const values: Record<string, unknown> = { ...driverFacts(info).defaults };
    // Compat entries may name properties a model does not have (QEMU marks those optional).
    for (const c of this.type.compatChain) {
      const def = info.types.includes(c.driver) ? own(schema, c.property) : undefined;
      if (def) values[c.property] = parseProperty(info.name, c.property, def, c.value);
    }
    for (const g of this.globals) {
      if (!info.types.includes(g.driver)) continue;
      const def = own(schema, g.property);
      if (!def) throw unknownProperty(info, g.property, `-global ${g.driver}.${g.property}=${g.value}`);
      values[g.property] = parseProperty(info.name, g.property, def, g.value);
    }
    for (const [k, v] of spec.props) {
      const def = own(schema, k);
      if (!def) throw unknownProperty(info, k);
      values[k] = parseProperty(info.name, k, def, v);
    }
    for (const [name, kind] of driverFacts(info).links) {
      const value = values[name];
      if (value === "") continue;
      const backends = kind === "drive" ? this.hostConfig.drives! : this.hostConfig.netdevs!;
      if (!backends.some((b) => b.id === value)) {
        throw new MachbusError("bad-property-value", `Property '${info.name}.${name}' can't find value '${String(value)}'`);
      }
      if (kind === "drive" && this.driveUsers.has(value as string)) {
        const legacy = this.legacyDrives.some((d) => d.id === value);
        throw new MachbusError(
          "drive-in-use",
          legacy
            ? `Drive '${String(value)}' is already in use because it has been automatically connected to another device (did you need 'if=none' in the drive options?)`
            : `Drive '${String(value)}' is already in use by another device`,
        );
      }
    }
    values.id = spec.id;
    return values as Record<string, unknown> & { id: string | null };
  }
}

/** QEMU 7.2's accelerator names (accel=A[:B...]). */
const QEMU_ACCELERATORS = new Set(["kvm", "xen", "tcg", "hax", "hvf", "nvmm", "whpx", "qtest"]);

/** What resolving a device's properties needs from its driver, worked out once per driver. */
interface DriverFacts {
  /** Each property's default, in schema order, then the qdev id. */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** Properties naming a host backend (drive=, netdev=), with the kind of backend. */
  readonly links: readonly (readonly [string, "drive" | "netdev"])[];
}

const knownDriverFacts = new WeakMap<object, DriverFacts>();

function driverFacts(info: Pick<DriverInfo, "properties">): DriverFacts {
  let facts = knownDriverFacts.get(info);
  if (!facts) {
    const defaults: Record<string, unknown> = {};
    const links: [string, "drive" | "netdev"][] = [];
    for (const [name, def] of Object.entries(info.properties)) {
      defaults[name] = def.default;
      if (def.type.link !== undefined) links.push([name, def.type.link]);
    }
    // Present from the start, so that setting it adds no property (a copy's shape never changes).
    defaults.id = null;
    knownDriverFacts.set(info, (facts = { defaults, links }));
  }
  return facts;
}

function unknownProperty(info: Pick<DriverInfo, "name" | "properties">, name: string, context?: string): MachbusError {
  return new MachbusError(
    "unknown-property",
    `${context ? `${context}: ` : ""}Property '${info.name}.${name}' not found (valid: ${Object.keys(info.properties).sort().join(", ")})`,
  );
}

function resolveOptions(what: string, schema: PropertySchema, pairs: [string, string][]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(schema)) values[name] = def.default;
  for (const [k, v] of pairs) {
    const def = own(schema, k);
    if (!def) {
      throw new MachbusError("unknown-property", `${what}: unknown option '${k}' (valid: ${Object.keys(schema).join(", ") || "none"})`);
    }
    values[k] = parseProperty(what, k, def, v);
  }
  return values;
}

/** QEMU's -m: a bare number is MiB; K, M, G, T suffixes (and B for bytes). */
export function parseMemorySize(value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_RAM;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new MachbusError("bad-property-value", `memory size ${value} is not a positive byte count`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$/i.exec(value);
  if (!m) throw new MachbusError("bad-property-value", `memory size '${value}' is invalid (examples: 128M, 1G, 512)`);
  const unit = { "": 2 ** 20, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase()]!;
  const bytes = Math.round(parseFloat(m[1]!) * unit);
  if (bytes <= 0) throw new MachbusError("bad-property-value", `memory size '${value}' must be positive`);
  return bytes;
}
