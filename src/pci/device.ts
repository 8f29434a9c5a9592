import { prop, types, type PropertySchema, type PropsOf } from "../machine/properties.js";
import { MachbusError } from "../errors.js";
import { Bar, type BarSpec } from "./bar.js";
import { Capabilities, ExtendedCapabilities } from "./capabilities.js";
import { ConfigSpace, initHeaderMasks } from "./config-space.js";
import {
  PCI_CLASS_DEVICE,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_COMMAND_SERR,
  PCI_DEVICE_ID,
  PCI_HEADER_TYPE,
  PCI_HEADER_TYPE_BRIDGE,
  PCI_INTERRUPT_PIN,
  PCI_REVISION_ID,
  PCI_SUBDEVICE_ID_QEMU,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_SUBVENDOR_ID_REDHAT_QUMRANET,
  PCI_VENDOR_ID,
} from "./constants.js";
import { PciFunction, type FunctionOwner } from "./function.js";
import { optionRomBarSize } from "./option-roms.js";

/** Properties every PCI device has (QEMU's pci_props). */
export const pciCommonProperties = {
  addr: prop(types.pciDevfn, -1, "slot and function, SLOT[.FN] in hex; the allocator picks when absent"),
  multifunction: prop(types.bool, false, "sets header-type bit 7 so functions 1-7 of the slot can be populated"),
  rombar: prop(types.uint32, 1, "0 hides the expansion ROM BAR (as pc-0.10/0.11 did)"),
  romfile: prop(types.str, "", "option ROM image; empty for none"),
  romsize: prop(types.uint32, 0xffffffff, "ROM BAR size; default: the romfile's size rounded up to a power of two"),
  // QEMU 0.14 to 1.x had it (pc-0.13 and older turned it off); QEMU 7.2 no longer lists it.
  command_serr_enable: prop(types.bool, true, "whether the guest may set the command register's SERR# enable bit", {
    inQtree: false,
    inHelp: false,
  }),
  // Accepted so QEMU command lines paste unchanged; they change nothing a conventional PCI guest sees.
  "acpi-index": prop(types.uint32, 0, "ACPI _DSM index for the device's firmware name (no ACPI tables here)", { guestVisible: false }),
  failover_pair_id: prop(types.str, "", "failover primary device id (no effect here)", { guestVisible: false }),
  "x-pcie-lnksta-dllla": prop(types.bool, true, "PCIe link status DLLLA bit (no effect on conventional PCI)", { guestVisible: false }),
  "x-pcie-extcap-init": prop(types.bool, true, "PCIe extended capability init (no effect on conventional PCI)", { guestVisible: false }),
} satisfies PropertySchema;

/** What the device's constructor receives: its driver's resolved properties plus the qdev id. */
export type DeviceProps<S extends PropertySchema = Record<never, never>> = PropsOf<S & typeof pciCommonProperties> & {
  id: string | null;
};

/** Identity registers every function sets at creation (QEMU's PCIDeviceClass fields). */
export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  /** Base class and subclass, e.g. 0x0200 for an Ethernet controller. */
  classCode: number;
  progIf?: number;
  revision?: number;
  /** Defaults to QEMU's 1af4:1100 on type 0 headers; bridges have none. */
  subsystemVendorId?: number;
  subsystemId?: number;
  /** Type 1 (PCI-to-PCI bridge) header. */
  bridge?: boolean;
  /** 4096-byte config space. */
  express?: boolean;
  /** INTA=1 .. INTD=4; 0 (default) for none. */
  interruptPin?: number;
}

/** Registry metadata a driver decorator attaches to the class (see machine/drivers.ts). */
export const DRIVER_INFO = Symbol.for("machbus.driverInfo");

/**
 * Base class of device models. A model is declarative: identity, BARs and capabilities in its
 * constructor, hooks only for registers with side effects. The engine-owned `function` carries
 * the config space that guest cycles reach.
 */
export abstract class PciDevice implements FunctionOwner {
  readonly function: PciFunction;
  readonly id: string | null;
  readonly driver: string;
  readonly props: DeviceProps;
  /** What QEMU's realize would warn about (warn_report) and goes on: the machine reports each with the device's spec. */
  buildWarnings?: string[];
  private caps: Capabilities | null = null;
  private extendedCaps: ExtendedCapabilities | null = null;

  protected constructor(identity: PciIdentity, props: DeviceProps) {
    this.driver = (new.target as unknown as { [DRIVER_INFO]?: { name: string } })[DRIVER_INFO]?.name ?? new.target.name;
    this.id = props.id;
    this.props = props;
    const fn = new PciFunction(this, { express: identity.express ?? false, bridge: identity.bridge ?? false });
    fn.multifunction = props.multifunction;
    this.function = fn;
    writeIdentity(fn.space, identity);
    initHeaderMasks(fn.space);
    if (!props.command_serr_enable) {
      fn.space.wmask[PCI_COMMAND + 1] = fn.space.wmask[PCI_COMMAND + 1]! & ~(PCI_COMMAND_SERR >> 8);
    }
  }

  get config(): ConfigSpace {
    return this.function.space;
  }

  /** The capability list (made on first use: many devices have none). */
  get capabilities(): Capabilities {
    return (this.caps ??= new Capabilities(this.function.space, () => this.function.label));
  }

  /** PCI Express extended capabilities (0x100 and up; only 4096-byte config spaces have room). */
  get extendedCapabilities(): ExtendedCapabilities {
    return (this.extendedCaps ??= new ExtendedCapabilities(this.function.space, () => this.function.label));
  }

  /** Declares BAR `index`; its registers come from `spec.ops` or from regions mapped into `bar.contents`. */
  protected defineBar(index: number, spec: BarSpec): Bar {
    const bar = new Bar(index, spec);
    this.function.registerBar(bar);
    return bar;
  }

  /**
   * The expansion ROM BAR for `romfile` (QEMU's pci_add_option_rom, run after the device's own
   * realize): none without a romfile; none with rombar=0 (QEMU then loads the ROM through fw_cfg,
   * as pc-0.11 did). The ROM's bytes are not modelled: it reads all ones (no 0x55AA signature).
   */
  addOptionRom(): void {
    const { romfile, rombar, romsize } = this.props;
    if (!romfile) return;
    if (!rombar) {
      if (this.function.hotplugged) {
        throw new MachbusError("bad-property-value", "Hot-plugged device without ROM bar can't have an option ROM");
      }
      return;
    }
    let size = romsize;
    if (size === 0xffffffff) {
      const known = optionRomBarSize(romfile);
      if (known === undefined) {
        throw new MachbusError("bad-property-value", `failed to find romfile "${romfile}" (give its size with romsize=)`);
      }
      size = known;
    } else if (size === 0 || (size & (size - 1)) !== 0) {
      throw new MachbusError("bad-property-value", `ROM size ${size} is not a power of two`);
    }
    this.defineBar(6, { kind: "rom", size, name: romRegionName(this.driver), ops: UNREADABLE_ROM });
  }

  /** Drives the device's INTx pin. */
  setIrq(level: boolean): void {
    this.function.setIrq(level);
  }

  /** Device-specific reset on top of the engine's (QEMU's DeviceClass reset). */
  protected resetRegisters(): void {}

  /** System reset: the engine clears command/status/BARs, then the model resets its registers. */
  reset(): void {
    this.resetRegisters();
    this.function.reset();
  }

  /**
   * After a hot-plug: QEMU resets the new device (its DeviceClass reset), but not its PCI state,
   * which only its bus's reset clears; so, say, the e1000's cache-line size of 0x10 stays.
   */
  hotplugReset(): void {
    this.resetRegisters();
  }

  /** After a snapshot replaced config bytes and state: re-derive what depends on them (windows, routing, levels). */
  stateLoaded(): void {}

  /** Called once the device sits on a bus (its bus number and devfn are known). */
  plugged(): void {}

  /** Called before the device leaves its bus. */
  unplugging(): void {}
}

/** The expansion ROM's contents as the guest sees them: all ones (the bytes are not modelled). */
const UNREADABLE_ROM = { read: (): number => 0xffffffff, write: (): void => {} };
const romNames = new Map<string, string>();
/** QEMU's "<driver>.rom", one string per driver. */
function romRegionName(driver: string): string {
  let name = romNames.get(driver);
  if (name === undefined) romNames.set(driver, (name = `${driver}.rom`));
  return name;
}

function writeIdentity(s: ConfigSpace, id: PciIdentity): void {
  s.set16(PCI_VENDOR_ID, id.vendorId);
  s.set16(PCI_DEVICE_ID, id.deviceId);
  s.set8(PCI_REVISION_ID, id.revision ?? 0);
  s.set8(PCI_CLASS_PROG, id.progIf ?? 0);
  s.set16(PCI_CLASS_DEVICE, id.classCode);
  if (id.bridge) {
    s.set8(PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE);
  } else if (id.subsystemVendorId || id.subsystemId) {
    s.set16(PCI_SUBSYSTEM_VENDOR_ID, id.subsystemVendorId ?? 0);
    s.set16(PCI_SUBSYSTEM_ID, id.subsystemId ?? 0);
  } else {
    s.set16(PCI_SUBSYSTEM_VENDOR_ID, PCI_SUBVENDOR_ID_REDHAT_QUMRANET);
    s.set16(PCI_SUBSYSTEM_ID, PCI_SUBDEVICE_ID_QEMU);
  }
  s.set8(PCI_INTERRUPT_PIN, id.interruptPin ?? 0);
}
