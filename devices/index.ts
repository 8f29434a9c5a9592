/** machbus's own device models, and `builtinDrivers`: the catalogue a machine gets by default. */
import { DriverCatalogue } from "../src/machine/drivers.js";
import { I440fx, Piix3, Piix3Ide, Piix4Pm } from "./chipset.js";
import { Ich9Ahci, Ich9Lpc, Ich9Smbus, Mch } from "./q35-chipset.js";
import { PciBridge } from "./pci-bridge.js";
import { PcieRootPort } from "./pcie-root-port.js";
import { Ioh3420 } from "./ioh3420.js";
import { PciePciBridge } from "./pcie-pci-bridge.js";
import { VirtioNetPci } from "./virtio-net-pci.js";
import { VirtioBlkPci } from "./virtio-blk-pci.js";
import { VirtioSerialPci } from "./virtio-serial-pci.js";
import { VirtioBalloonPci } from "./virtio-balloon-pci.js";
import { StdVga } from "./vga.js";
import { CirrusVga } from "./cirrus-vga.js";
import { Lsi53c895a } from "./lsi53c895a.js";
import { IntelHda } from "./intel-hda.js";
import { FwCfgIo } from "./fw-cfg.js";
import { IsaDebugcon } from "./isa-debugcon.js";
import { E1000 } from "./e1000.js";
import { E1000e } from "./e1000e.js";
import { Rtl8139 } from "./rtl8139.js";
import { Ne2kPci } from "./ne2k-pci.js";
import { Piix3UsbUhci } from "./piix3-usb-uhci.js";
import { VirtioScsiPci } from "./virtio-scsi-pci.js";
import { IdeHd } from "./ide-hd.js";
import { IdeCd } from "./ide-cd.js";
import { ScsiHd } from "./scsi-hd.js";
import { ScsiCd } from "./scsi-cd.js";

/** Every built-in device model: the pc and q35 chipsets, fw_cfg, every model a user can add, and the drives on their buses. */
export const builtinDrivers = new DriverCatalogue([
  I440fx,
  Piix3,
  Piix3Ide,
  Piix4Pm,
  Mch,
  Ich9Lpc,
  Ich9Ahci,
  Ich9Smbus,
  FwCfgIo,
  PciBridge,
  PcieRootPort,
  Ioh3420,
  PciePciBridge,
  VirtioNetPci,
  VirtioBlkPci,
  VirtioSerialPci,
  VirtioBalloonPci,
  StdVga,
  CirrusVga,
  Lsi53c895a,
  IntelHda,
  IsaDebugcon,
  E1000,
  E1000e,
  Rtl8139,
  Ne2kPci,
  Piix3UsbUhci,
  VirtioScsiPci,
  IdeHd,
  IdeCd,
  ScsiHd,
  ScsiCd,
]);
