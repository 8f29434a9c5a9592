/** The device catalogue: importing this module registers every built-in driver. */
export * from "./chipset.js";
export * from "./q35-chipset.js";
export { PciBridge } from "./pci-bridge.js";
export { VirtioNetPci } from "./virtio-net-pci.js";
export { VirtioBlkPci } from "./virtio-blk-pci.js";
export { VirtioSerialPci } from "./virtio-serial-pci.js";
export { VirtioBalloonPci } from "./virtio-balloon-pci.js";
export { StdVga } from "./vga.js";
export { CirrusVga } from "./cirrus-vga.js";
export { Lsi53c895a } from "./lsi53c895a.js";
export { IntelHda } from "./intel-hda.js";
export { FwCfgIo } from "./fw-cfg.js";
export { IsaDebugcon } from "./isa-debugcon.js";
export { E1000 } from "./e1000.js";
export { Rtl8139 } from "./rtl8139.js";
export { Ne2kPci } from "./ne2k-pci.js";
export { Piix3UsbUhci } from "./piix3-usb-uhci.js";
