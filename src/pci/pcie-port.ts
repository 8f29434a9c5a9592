import { MachbusError } from "../errors.js";
import { prop, types, type PropertySchema } from "../machine/properties.js";
import { PciBridgeDevice } from "./bridge.js";
import type { PciBus, PciHotplugHandler } from "./bus.js";
import type { DeviceProps, PciDevice, PciIdentity } from "./device.js";
import type { PciFunction } from "./function.js";
import type { Msi } from "./msi.js";
import type { Msix } from "./msix.js";
import { PCIE_TYPE, PcieCapability, PcieSlot, type PcieLinkSpeed, type PcieLinkWidth } from "./pcie.js";
import { acsInit, acsReset, aerInit, aerRootInit, aerRootReset, PCI_ERR_ROOT_IRQ, PCI_ERR_ROOT_STATUS } from "./pcie-extcaps.js";

/** Properties of every PCI Express root port (QEMU's pcie-root-port-base, pcie-slot and pcie-port). */
export const pcieRootPortProperties = {
  chassis: prop(types.uint8, 0, "chassis number of the port's slot"),
  slot: prop(types.uint16, 0, "physical slot number (slot capabilities), unique within its chassis"),
  port: prop(types.uint8, 0, "port number (link capabilities)"),
  aer_log_max: prop(types.uint16, 8, "AER header log entries"),
  "disable-acs": prop(types.bool, false, "leaves out the ACS extended capability"),
  hotplug: prop(types.bool, true, "whether the slot takes hotplug"),
  power_controller_present: prop(types.bool, true, "slot power controller (the guest powers the device below on and off)"),
  "x-native-hotplug": prop(types.bool, true, "announces native PCIe hotplug in the slot capabilities"),
} satisfies PropertySchema;

export type PcieRootPortProps = DeviceProps<typeof pcieRootPortProperties>;

/** Where a root port model puts its parts, and how it signals (QEMU's PCIERootPortClass). */
export interface RootPortLayout {
  ssvid: { offset: number; vendorId: number; subsystemId: number };
  /** QEMU's interrupts_init: the port's MSI-X or MSI, added before the PCIe capability. */
  interrupts(port: PcieRootPortDevice): { msix?: Msix; msi?: Msi };
  /** QEMU's aer_vector: the message number AER root status announces. */
  aerVector(): number;
  expOffset: number;
  slotLink?: { speed: PcieLinkSpeed; width: PcieLinkWidth };
  aerOffset: number;
  /** ACS offset; null: the model has none. */
  acsOffset: number | null;
  /** Removes a function below the port (the machine's unplug, when the guest powers the slot off). */
  removeFunction(fn: PciFunction): void;
}

/** Chassis/slot pairs taken, per machine (keyed by root bus): QEMU's pcie_chassis_add_slot. */
const chassisSlots = new WeakMap<PciBus, Set<number>>();

/**
 * A PCI Express root port (QEMU's pcie_root_port.c, rp_realize): a bridge whose secondary bus is
 * its slot. Capabilities in QEMU's order (subsystem ID, the model's MSI/MSI-X, the PCIe
 * capability with slot and root registers), AER, ACS; the slot's hotplug state machine (pcie.ts)
 * handles hotplug on the secondary bus, unless the chipset's ACPI hotplug took the bus over.
 */
export abstract class PcieRootPortDevice extends PciBridgeDevice implements PciHotplugHandler {
  readonly cap: PcieCapability;
  readonly slot: PcieSlot;
  readonly msix: Msix | null;
  readonly msi: Msi | null;
  private readonly aer: number;
  private readonly acs: number | null;
  /** Whether ACPI hotplug handles the secondary bus (a port present at start-up under ICH9's bridge hotplug). */
  private acpiHandled = false;
  private chassisKey = -1;

  protected constructor(
    identity: PciIdentity,
    readonly portProps: PcieRootPortProps,
    plugBus: PciBus,
    private readonly layout: RootPortLayout,
  ) {
    super({ ...identity, express: true, interruptPin: 1 }, portProps);
    // QEMU's pcie_port_init_reg: no 66 MHz, fast back-to-back or discard timers on PCI Express.
    const s = this.config;
    s.set16(0x06, 0);
    s.set16(0x1e, 0);
    s.wmask[0x3e] = s.wmask[0x3e]! & ~0xa0;
    s.wmask[0x3f] = s.wmask[0x3f]! & ~0x0f;
    this.addSubsystemIdCapability(layout.ssvid.offset, layout.ssvid.vendorId, layout.ssvid.subsystemId);
    const { msix, msi } = layout.interrupts(this);
    this.msix = msix ?? null;
    this.msi = msi ?? null;
    this.cap = new PcieCapability(this, {
      offset: layout.expOffset,
      type: PCIE_TYPE.rootPort,
      version: 2,
      port: portProps.port,
      slotLink: layout.slotLink,
    });
    this.cap.syncLinkOnRead(() => (this.hasSecondaryBus ? this.secondaryBus : null));
    this.cap.arifwdInit();
    this.cap.deverrInit();
    // rp_write_config: the AER message number follows every write, before the slot sees it.
    this.function.onConfigWrite(0, s.size, () => this.updateAerVector());
    this.slot = new PcieSlot(this.cap, {
      slot: portProps.slot,
      hotplug: portProps.hotplug,
      // ICH9 hides native hotplug from ports while ACPI hotplug runs, unless told to keep it.
      nativeHotplug: !this.nativeHotplugHidden(plugBus),
      powerController: portProps.power_controller_present,
      notify: (level) => {
        if (this.msix?.enabled) this.msix.notify(this.cap.vector);
        else if (this.msi?.enabled) this.msi.notify(this.cap.vector);
        else this.setIrq(level);
      },
      clearIntx: () => {
        if (!this.messageSignalled) this.setIrq(false);
      },
      setPower: (on) => {
        if (!this.hasSecondaryBus) return;
        for (const fn of [...this.secondaryBus]) this.secondaryBus.setPower(fn, on);
      },
      unplugAll: () => {
        for (const fn of [...this.secondaryBus]) layout.removeFunction(fn);
      },
      populated: () => this.hasSecondaryBus && this.secondaryBus.get(0) !== undefined,
    });
    this.cap.rootInit();
    this.aer = aerInit(this, this.cap, { offset: layout.aerOffset, logMax: portProps.aer_log_max });
    aerRootInit(this, this.aer, () => this.messageSignalled);
    this.acs = layout.acsOffset !== null && !portProps["disable-acs"] ? acsInit(this, this.cap, layout.acsOffset) : null;
  }

  /** Whether x-native-hotplug is off as the chipset leaves it: ICH9 turns it off under ACPI hotplug unless told to keep it. */
  protected nativeHotplugHidden(plugBus: PciBus): boolean {
    const acpi = plugBus.root.acpiHotplug;
    return !this.portProps["x-native-hotplug"] || (acpi !== null && !acpi.keepSlotHpc);
  }

  private get messageSignalled(): boolean {
    return (this.msix?.enabled ?? false) || (this.msi?.enabled ?? false);
  }

  private updateAerVector(): void {
    const at = this.aer + PCI_ERR_ROOT_STATUS;
    const s = this.config;
    s.set32(at, ((s.get32(at) & ~PCI_ERR_ROOT_IRQ) | (this.layout.aerVector() << 27)) >>> 0);
  }

  override plugged(): void {
    const fn = this.function;
    const root = fn.bus!.root;
    let taken = chassisSlots.get(root);
    if (!taken) chassisSlots.set(root, (taken = new Set()));
    const key = (this.portProps.chassis << 16) | this.portProps.slot;
    if (taken.has(key)) throw new MachbusError("bad-property-value", "Can't add chassis slot, error -16");
    super.plugged();
    taken.add(key);
    this.chassisKey = key;
    // A port hot-added itself announces native hotplug whatever the chipset says (pcie_cap_slot_init).
    if (fn.hotplugged && this.portProps.hotplug) this.slot.announceNativeHotplug();
    this.acpiHandled = !fn.hotplugged && root.acpiHotplug !== null;
    this.secondaryBus.hotpluggable = this.portProps.hotplug;
    this.secondaryBus.hotplugHandler = this;
  }

  override unplugging(): void {
    chassisSlots.get(this.function.bus!.root)?.delete(this.chassisKey);
    super.unplugging();
  }

  // ---- hotplug on the secondary bus (QEMU's pcie_cap_slot_*_cb, or ACPI's for ports it took over) ----

  prePlug(fn: PciFunction): void {
    if (!this.acpiHandled) this.slot.checkPlug(fn.hotplugged, this.id ?? "(null)");
  }

  afterPlug(fn: PciFunction): void {
    if (this.acpiHandled) {
      // ACPI's plug: the slot is powered for a hot-added device; no slot events, no presence detect.
      if (fn.hotplugged) this.slot.enablePower();
      return;
    }
    this.slot.plugged({
      hotplugged: fn.hotplugged,
      // Below a PCIe port only device 0 counts as the slot's function 0 (QEMU's pci_get_function_0).
      functionZero: this.secondaryBus.get(0) !== undefined,
      linkActive: (fn.owner as PciDevice).props["x-pcie-lnksta-dllla"],
    });
  }

  unplugRequest(fn: PciFunction): "now" | "guest" {
    if (this.acpiHandled) return "now"; // the guest's ACPI eject is not modelled: it goes at once
    // A function the guest never saw (its slot has no function 0) goes without asking it.
    if (fn.devfn !== 0 && !this.secondaryBus.get(0)) return "now";
    this.slot.unplugRequest(this.id ?? "(null)");
    return "guest";
  }

  /** QEMU's rp_reset_hold. */
  protected override resetRegisters(): void {
    this.updateAerVector();
    this.cap.rootReset();
    this.cap.deverrReset();
    this.slot.reset();
    this.cap.arifwdReset();
    if (this.acs !== null) acsReset(this, this.acs);
    aerRootReset(this, this.aer);
    this.resetBridgeRegisters({ disableForwarding: true });
  }

  override stateLoaded(): void {
    super.stateLoaded();
    this.slot.stateLoaded();
  }
}
