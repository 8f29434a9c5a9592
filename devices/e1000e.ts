import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { NicMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { bootindexProperty, prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, MAC_ADDRESSES, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import { setLe } from "../src/pci/config-space.js";
import {
  PCI_CACHE_LINE_SIZE,
  PCI_CAP_ID_PM,
  PCI_PM_CTRL,
  PCI_PM_CTRL_STATE_MASK,
  PCI_PM_PMC,
  PCI_PM_SIZEOF,
} from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { Msi } from "../src/pci/msi.js";
import { Msix } from "../src/pci/msix.js";
import { endpointCapability } from "../src/pci/pcie.js";
import { aerInit, serialNumberInit } from "../src/pci/pcie-extcaps.js";

const properties = {
  ...nicProperties,
  bootindex: bootindexProperty,
  disable_vnet_hdr: prop(types.uint8, 0, "do not use virtio headers (no effect: no frames are emulated)", { guestVisible: false }),
  "init-vet": prop(types.bool, true, "the VLAN ether type register VET resets to 0x8100 (off: 0)"),
  subsys: prop(types.uint16, 0, "PCI subsystem ID"),
  subsys_ven: prop(types.uint16, 0x8086, "PCI subsystem vendor ID"),
};

const MMIO_SIZE = 128 * 1024;
const FLASH_SIZE = 128 * 1024;
const IO_SIZE = 32;
const MSIX_SIZE = 16 * 1024;
const MSIX_VECTORS = 5;
const MSIX_PBA = 0x2000;
const DSN_OFFSET = 0x140;
// Power management: PCI PM 1.1 with device-specific initialization.
const PM_CAP_VER_1_1 = 0x0002;
const PM_CAP_DSI = 0x0020;
/** State, PME enable, data select writable; PME status write-1-to-clear. */
const PM_CTRL_WRITABLE = PCI_PM_CTRL_STATE_MASK | 0x0100 | 0x1e00;
const PM_CTRL_PME_STATUS = 0x8000;

/** The NIC's registers as far as machbus goes: they read 0 and take writes without effect. */
const NO_REGISTERS = { read: (): number => 0, write: (): void => {} };

/**
 * Intel 82574L Gigabit Ethernet "e1000e" (8086:10d3; QEMU's e1000e.c) as the guest's config space
 * sees it: 128 KiB register BAR 0, an empty 128 KiB flash BAR 1, 32 I/O ports in BAR 2, the
 * MSI-X table and PBA (5 vectors) in BAR 3; capabilities MSI-X at 0xa0, PCIe version 1 at 0xe0
 * (an integrated endpoint on pcie.0), MSI at 0xd0, power management at 0xc8; AER at 0x100 and
 * the serial number derived from the MAC at 0x140 (inside AER's range, as QEMU puts it).
 * Not emulated: the NIC itself (its registers read 0, nothing is sent or received).
 */
@pciDriver({ name: "e1000e", description: "Intel 82574L GbE Controller", category: "network", properties, romfile: "efi-e1000e.rom" })
export class E1000e extends PciDevice {
  private readonly mac: NicMac;

  constructor(
    @inject(DEVICE_PROPS) settings: DeviceProps<typeof properties>,
    @inject(MAC_ADDRESSES) macs: MacAddresses,
    @inject(PLUG_BUS) bus: PciBus,
  ) {
    super(
      {
        vendorId: 0x8086,
        deviceId: 0x10d3,
        classCode: 0x0200,
        interruptPin: 1,
        express: true,
        subsystemVendorId: settings.subsys_ven,
        subsystemId: settings.subsys,
      },
      settings,
    );
    // QEMU sets 0x10 at realize; the reset that follows clears it before any guest can look.
    this.config.set8(PCI_CACHE_LINE_SIZE, 0x10);
    this.defineBar(0, { kind: "mem32", size: MMIO_SIZE, name: "e1000e-mmio", ops: NO_REGISTERS });
    this.defineBar(1, { kind: "mem32", size: FLASH_SIZE, name: "e1000e-flash" });
    this.defineBar(2, { kind: "io", size: IO_SIZE, name: "e1000e-io", ops: NO_REGISTERS });
    const msixBar = this.defineBar(3, { kind: "mem32", size: MSIX_SIZE, name: "e1000e-msix" });
    const msix = new Msix(this, {
      vectors: MSIX_VECTORS,
      tableBar: msixBar,
      tableOffset: 0,
      pbaBar: msixBar,
      pbaOffset: MSIX_PBA,
      offset: 0xa0,
    });
    for (let v = 0; v < MSIX_VECTORS; v++) msix.use(v);
    const cap = endpointCapability(this, bus, { offset: 0xe0, version: 1 });
    aerInit(this, cap, { offset: 0x100, logMax: 0 });
    serialNumberInit(this, DSN_OFFSET, 0n, { allowOverlap: true });
    new Msi(this, { offset: 0xd0, vectors: 1, is64bit: true, perVectorMask: false });
    const pm = this.capabilities.add(PCI_CAP_ID_PM, PCI_PM_SIZEOF, 0xc8);
    this.config.set16(pm + PCI_PM_PMC, PM_CAP_VER_1_1 | PM_CAP_DSI);
    setLe(this.config.wmask, pm + PCI_PM_CTRL, PM_CTRL_WRITABLE, 2);
    setLe(this.config.w1cmask, pm + PCI_PM_CTRL, PM_CTRL_PME_STATUS, 2);
    this.mac = new NicMac(macs, settings);
  }

  /** The MAC address the NIC was given (QEMU's conf.macaddr). */
  get macAddress(): string {
    return this.mac.toString();
  }

  /** QEMU picks the MAC at realize; the serial number is made from it (e1000e_gen_dsn: MAC with ff:ff in the middle). */
  override plugged(): void {
    const m = this.mac.claim();
    this.config.set32(DSN_OFFSET + 4, ((0xff << 24) | (m[3]! << 16) | (m[4]! << 8) | m[5]!) >>> 0);
    this.config.set32(DSN_OFFSET + 8, ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | 0xff) >>> 0);
  }

  override unplugging(): void {
    this.mac.release();
  }
}
