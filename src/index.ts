/**
 * machbus, the engine (`import ... from "machbus"`): machines, the PCI model, device-model
 * building blocks, the built-in device catalogue and machine types. Browser-safe, and free of the
 * machine-file parser: files are `machbus/config`, migration `machbus/migration`, the HMP monitor
 * `machbus/monitor`, DI tokens also `machbus/tokens` (package.json "exports").
 */
import "reflect-metadata";

export { builtinDrivers } from "../devices/index.js";
export { builtinMachineTypes, i440fxBoard, q35Board } from "../machines/index.js";

export { MachbusError, isMachbusError, type MachbusErrorCode } from "./errors.js";
export type * from "./events.js";
export { AddressSpace, Region, type RegionOps, type RegionOptions, type OverlapReport } from "./memory/address-space.js";
export { registerFile } from "./memory/register-file.js";
export { ConfigSpace } from "./pci/config-space.js";
export { Capabilities, ExtendedCapabilities, type CapabilityEntry } from "./pci/capabilities.js";
export { Bar, BAR_UNMAPPED, type BarKind, type BarSpec } from "./pci/bar.js";
export { PciFunction } from "./pci/function.js";
export { PciDevice, pciCommonProperties, type DeviceProps, type PciIdentity } from "./pci/device.js";
export { PciBridgeDevice } from "./pci/bridge.js";
export * as pcie from "./pci/pcie.js";
export * as pcieExtcaps from "./pci/pcie-extcaps.js";
export { PciBus } from "./pci/bus.js";
export { PciHost } from "./pci/host.js";
export { Msi, type MsiOptions } from "./pci/msi.js";
export { Msix, MSIX_CAP_LENGTH, msixPbaSize, msixExclusiveBarLayout, type MsixOptions } from "./pci/msix.js";
export { MacAddresses, NicMac, formatMac } from "./machine/mac-addresses.js";
export * as pci from "./pci/constants.js";
export {
  describeState,
  u8,
  u16,
  u32,
  i32,
  u64,
  f64,
  bool,
  u8Array,
  u16Array,
  u32Array,
  sparseU32Array,
  pages,
  struct,
  table,
  columns,
  StateDescription,
  type StateSpec,
  type Field,
} from "./state/description.js";
export { saveState, loadState } from "./state/engine.js";
export { Machine, type MachineOptions, type PlacedDevice } from "./machine/machine.js";
export { linuxBootItems, type LinuxBoot, type LinuxBootItems } from "./machine/linux-boot.js";
export {
  MachineTypeRegistry,
  type Board,
  type MachineType,
  type MachineTypeDefinition,
  type CompatProperty,
  type MachineClassFields,
  type RamLayout,
} from "./machine/machine-type.js";
export {
  DriverCatalogue,
  pciDriver,
  isaDriver,
  busDriver,
  driverInfo,
  type BusDriverOptions,
  type DeviceClass,
  type DriverCategory,
  type DriverClass,
  type DriverInfo,
  type DriverOptions,
  type IsaDriverOptions,
  type MachineDevice,
  type QdevGpio,
  type QtreeLayout,
} from "./machine/drivers.js";
export { parseDriveOption, parseNetdevOption, type HostConfig, type HostDrive, type HostNetdev } from "./machine/host-config.js";
export { IsaDevice, type IsaDeviceProps } from "./isa/device.js";
export { BusDevice, type BusDeviceProps } from "./storage/bus-device.js";
export { ChildBus, type ChildAddressing, type ChildBusKind, type ChildBusSpec } from "./storage/child-bus.js";
export { ideAddressing, ideChannel } from "./storage/ide-bus.js";
export { scsiAddressing, scsiBus, type ScsiLimits } from "./storage/scsi-bus.js";
export type { BoardChip, BoardModelPlace, BoardQtree, PlacedChip } from "./machine/board-chips.js";
export { prop, types, type PropertyDef, type PropertySchema, type PropertyType, type PropsOf } from "./machine/properties.js";
export { parseDeviceSpec, formatDeviceSpec, type DeviceSpec } from "./machine/device-spec.js";
export {
  FirstFitAllocator,
  freeSlots,
  noSlotError,
  slotFree,
  type Placement,
  type PlacementPlan,
  type PlannedDevice,
  type SlotAllocator,
  type SlotRequest,
} from "./machine/allocator.js";
export {
  allocationPolicy,
  PolicyCatalogue,
  parsePolicySpec,
  formatPolicySpec,
  DEFAULT_POLICY,
  POLICY_INFO,
  type PolicyClass,
  type PolicyClassLike,
  type PolicyInfo,
  type PolicyOptions,
  type PolicyParams,
  type PolicySpec,
} from "./machine/allocation-policy.js";
export * from "./machine/policies/index.js";
export { linkLoad, rootLink } from "./machine/policies/irq-balance.js";
export * as tokens from "./machine/tokens.js";
export {
  DEVICE_PROPS,
  EVENTS,
  IO_SPACE,
  MEMORY_SPACE,
  RAM_SIZE,
  RAM_LAYOUT,
  MACHINE_CLASS,
  ROOT_BUS,
  PCI_HOST,
  SLOT_ALLOCATOR,
  ALLOCATOR_PARAMS,
  MACHINE,
  PLUG_BUS,
  CLOCK,
  MAC_ADDRESSES,
  type Clock,
} from "./machine/tokens.js";
export { queryPci, queryPciJson, type PciBusInfo, type PciDeviceInfo, type PciBridgeInfo, type PciRegionInfo } from "./pci/query-pci.js";
export { lspciDump, type DumpDepth } from "./pci/lspci-dump.js";
export { slotReport, formatSlotReport, type BusSlots, type SlotInfo, type SlotReport } from "./machine/slots.js";
/** tsyringe's parameter decorator, re-exported so device models need only `machbus` (which loads reflect-metadata first). */
export { inject } from "tsyringe";
