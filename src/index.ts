/**
 * machbus: a machine-bus simulator. Importing the package registers the built-in machine types
 * and device drivers; `Machine.create()` builds a machine.
 */
import "reflect-metadata";
import "../devices/index.js";
import "../machines/index.js";

export { i440fxBoard } from "../machines/pc.js";
export { q35Board } from "../machines/q35.js";

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
export { MacAddresses, formatMac } from "./machine/mac-addresses.js";
export * as pci from "./pci/constants.js";
export { Machine, type MachineOptions, type PlacedDevice } from "./machine/machine.js";
export {
  machineTypes,
  MachineTypeRegistry,
  type Board,
  type MachineType,
  type MachineTypeDefinition,
  type CompatProperty,
} from "./machine/machine-type.js";
export {
  pciDriver,
  isaDriver,
  registerDriver,
  registeredDrivers,
  type DriverClass,
  type DriverInfo,
  type MachineDevice,
} from "./machine/drivers.js";
export { IsaDevice, type IsaDeviceProps } from "./isa/device.js";
export { prop, types, type PropertyDef, type PropertySchema, type PropertyType, type PropsOf } from "./machine/properties.js";
export { parseDeviceSpec, formatDeviceSpec, type DeviceSpec } from "./machine/device-spec.js";
export { FirstFitAllocator, type SlotAllocator, type SlotRequest } from "./machine/allocator.js";
export * as tokens from "./machine/tokens.js";
export {
  DEVICE_PROPS,
  EVENTS,
  IO_SPACE,
  MEMORY_SPACE,
  RAM_SIZE,
  ROOT_BUS,
  PCI_HOST,
  SLOT_ALLOCATOR,
  MACHINE,
  PLUG_BUS,
  CLOCK,
  MAC_ADDRESSES,
  type Clock,
} from "./machine/tokens.js";
export { attachToV86, type V86AttachOptions, type V86Attachment, type UnroutableBar } from "./embed/v86-adapter.js";
/** tsyringe's parameter decorator, re-exported so device models need only `machbus` (which loads reflect-metadata first). */
export { inject } from "tsyringe";
