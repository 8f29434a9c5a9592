import type { QtreeLayout } from "../machine/drivers.js";
import { prop, types, type PropertyType } from "../machine/properties.js";
import type { DeviceProps } from "../pci/device.js";

/** QEMU's OnOffAuto. */
export const onOffAuto = types.enumOf(["on", "off", "auto"] as const);

/** QEMU's size type (`types.size`). */
export const sizeType: PropertyType<number> = types.size;

/** Properties of every virtio device (QEMU's virtio-device: the shared ring features and flags). */
export const virtioDeviceProperties = {
  indirect_desc: prop(types.bool, true, "offers VIRTIO_RING_F_INDIRECT_DESC (feature bit 28)"),
  event_idx: prop(types.bool, true, "offers VIRTIO_RING_F_EVENT_IDX (feature bit 29)"),
  notify_on_empty: prop(types.bool, true, "offers VIRTIO_F_NOTIFY_ON_EMPTY (feature bit 24, legacy drivers only)"),
  any_layout: prop(types.bool, true, "offers VIRTIO_F_ANY_LAYOUT (feature bit 27, legacy drivers only)"),
  iommu_platform: prop(types.bool, false, "offers VIRTIO_F_IOMMU_PLATFORM (feature bit 33); refused while the legacy interface is on"),
  packed: prop(types.bool, false, "offers VIRTIO_F_RING_PACKED (feature bit 34)"),
  queue_reset: prop(types.bool, true, "offers VIRTIO_F_RING_RESET (feature bit 40)"),
  "use-started": prop(types.bool, true, "vhost start tracking (no effect here)"),
  "use-disabled-flag": prop(
    types.bool,
    true,
    "clearing the bus-master bit silences the device's interrupts until it is set again or the device resets",
  ),
  "x-disable-legacy-check": prop(
    types.bool,
    false,
    "skips the modern-only check of device types that have no legacy interface (no effect on these devices)",
  ),
};

/** Properties of the virtio-pci proxy (QEMU's virtio-pci), minus `vectors` and `ioeventfd`, which not every driver has. */
export const virtioPciProperties = {
  "disable-legacy": prop(onOffAuto, "auto", "legacy interface (I/O BAR 0, device ID 0x1000 + n); auto means on, on conventional PCI"),
  "disable-modern": prop(
    types.bool,
    false,
    "virtio 1.0 interface (64-bit BAR 4, vendor capabilities); with disable-legacy=on: device ID 0x1040 + type, revision 1",
  ),
  "modern-pio-notify": prop(types.bool, false, "adds a 4-byte I/O BAR 2 and a second notify capability for queue notifications by port"),
  "page-per-vq": prop(types.bool, false, "notify addresses 4 KiB apart instead of 4 bytes (BAR 4 grows to 8 MiB)"),
  "migrate-extra": prop(types.bool, true, "migrates the modern interface's state (no effect on the guest view)"),
  "virtio-pci-bus-master-bug-migration": prop(types.bool, false, "migration work-around for old guests (no effect on the guest view)"),
  "x-ignore-backend-features": prop(types.bool, false, "keeps the modern interface even if the backend does not offer VIRTIO_F_VERSION_1"),
  "x-disable-pcie": prop(types.bool, false, "PCI Express capabilities behind a PCIe port (no effect on conventional PCI)"),
  ats: prop(types.bool, false, "PCIe ATS capability (no effect on conventional PCI)"),
  "x-ats-page-aligned": prop(types.bool, true, "PCIe ATS page alignment (no effect on conventional PCI)"),
  aer: prop(types.bool, false, "PCIe AER capability (no effect on conventional PCI)"),
  "x-pcie-deverr-init": prop(types.bool, true, "PCIe device error reporting init (no effect on conventional PCI)"),
  "x-pcie-lnkctl-init": prop(types.bool, true, "PCIe link control init (no effect on conventional PCI)"),
  "x-pcie-pm-init": prop(types.bool, true, "PCIe power management capability (no effect on conventional PCI)"),
  "x-pcie-flr-init": prop(types.bool, true, "PCIe function level reset (no effect on conventional PCI)"),
};

/**
 * A property QEMU lists but lets nobody set (a QOM child or a read-only statistic): declared so
 * listings match QEMU's, refused when given.
 */
export function readOnlyProperty(typeName: string, description: string) {
  const type: PropertyType<string> = {
    name: typeName,
    parse: () => ({ error: "nothing: the property is not writable" }),
    format: (v) => v,
  };
  return prop(type, "", `${description} (not writable)`, { writable: false });
}

/** QEMU's order of virtio-pci's and of virtio-device's own properties in `info qtree`. */
const VIRTIO_PCI_QTREE = [
  "virtio-pci-bus-master-bug-migration",
  "migrate-extra",
  "modern-pio-notify",
  "x-disable-pcie",
  "page-per-vq",
  "x-ignore-backend-features",
  "ats",
  "x-ats-page-aligned",
  "x-pcie-deverr-init",
  "x-pcie-lnkctl-init",
  "x-pcie-pm-init",
  "x-pcie-flr-init",
  "aer",
];
const VIRTIO_DEVICE_QTREE = Object.keys(virtioDeviceProperties);

/**
 * How `info qtree` shows a virtio device: the proxy (disable-legacy, disable-modern, its own
 * properties `proxy`, virtio-pci's) and, on its virtio-bus, the `backend` device with its own
 * properties `backendProperties` followed by virtio-device's; each list in QEMU's order.
 */
export function virtioQtree(proxy: readonly string[], backend: string, backendProperties: readonly string[]): QtreeLayout {
  return {
    proxy: ["disable-legacy", "disable-modern", ...proxy, ...VIRTIO_PCI_QTREE],
    backend: { type: backend, bus: "virtio-bus", busType: "virtio-pci-bus", properties: [...backendProperties, ...VIRTIO_DEVICE_QTREE] },
  };
}

/** `ioeventfd` (for the drivers that list it). */
export const ioeventfdProperty = prop(types.bool, true, "kicks handled in a host thread (no effect on the guest view)");

export type VirtioPciProps = DeviceProps<typeof virtioPciProperties & typeof virtioDeviceProperties>;
