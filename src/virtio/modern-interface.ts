import { Region, type RegionOps } from "../memory/address-space.js";
import { Bar } from "../pci/bar.js";
import { getLe, setLe } from "../pci/config-space.js";
import { PCI_CAP_ID_VNDR } from "../pci/constants.js";
import type { PciDevice } from "../pci/device.js";
import type { ConfigReadHookHandle } from "../pci/function.js";
import type { CommonConfig } from "./common-config.js";
import { VIRTIO_QUEUE_MAX, pow2ceil } from "./constants.js";
import type { VirtioCore } from "./core.js";

/** Vendor capability types (cfg_type) and struct virtio_pci_cap's fields. */
const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
const VIRTIO_PCI_CAP_PCI_CFG = 5;
const CAP_LEN = 2;
const CAP_CFG_TYPE = 3;
const CAP_BAR = 4;
const CAP_OFFSET = 8;
const CAP_LENGTH = 12;
const CAP_NOTIFY_MULTIPLIER = 16;
const CAP_PCI_CFG_DATA = 16;
const VIRTIO_PCI_CAP_SIZE = 16;
const VIRTIO_PCI_NOTIFY_CAP_SIZE = 20;
const VIRTIO_PCI_CFG_CAP_SIZE = 20;

/** QEMU's default layout: modern I/O notify in BAR 2, the modern memory BAR 4-5 of 4 KiB regions. */
const MODERN_IO_BAR = 2;
const MODERN_MEM_BAR = 4;
const REGION_PAGE = 0x1000;

interface ModernRegion {
  readonly offset: number;
  readonly size: number;
  readonly ops: RegionOps;
}

export interface ModernOptions {
  /** QEMU's vdev name, e.g. "virtio-net": region names derive from it. */
  readonly virtioName: string;
  /** Bytes between queue notify addresses (4, or 4 KiB with page-per-vq). */
  readonly notifyMultiplier: number;
  /** modern-pio-notify: a 4-byte I/O BAR 2 and a second notify capability. */
  readonly pioNotify: boolean;
}

/**
 * The virtio 1.0 interface: the common, ISR, device and notify structures in the 64-bit memory
 * BAR 4, a vendor capability locating each, and the PCI cfg access capability, a window onto
 * BAR 4 through config cycles (QEMU's virtio_pci_modern_regions_init and the cfg capability).
 */
export class ModernInterface {
  private readonly regions: ModernRegion[] = [];
  private readonly cfgCap: number;
  private readonly cfgWindowRead: ConfigReadHookHandle;

  constructor(
    private readonly device: PciDevice,
    core: VirtioCore,
    common: CommonConfig,
    options: ModernOptions,
  ) {
    const { notifyMultiplier } = options;
    const notifySize = notifyMultiplier * VIRTIO_QUEUE_MAX;
    const region = (offset: number, size: number, ops: RegionOps): ModernRegion => ({ offset, size, ops });
    const commonRegion = region(0, REGION_PAGE, common);
    const isr = region(REGION_PAGE, REGION_PAGE, { read: () => core.readIsr(), write: () => {} });
    const config = region(2 * REGION_PAGE, REGION_PAGE, {
      read: (o, s) => core.configRead(o, s),
      write: (o, s, v) => core.configWrite(o, s, v),
    });
    const notify = region(3 * REGION_PAGE, notifySize, { read: () => 0, write: (o) => core.kick(Math.floor(o / notifyMultiplier)) });
    this.regions.push(commonRegion, isr, config, notify);
    const owner = device.driver;
    const bar = new Bar(MODERN_MEM_BAR, {
      kind: "mem64",
      prefetchable: true,
      size: pow2ceil(3 * REGION_PAGE + notifySize),
      name: "virtio-pci",
    });
    device.function.registerBar(bar);
    const names = ["common", "isr", "device", "notify"];
    this.regions.forEach((r, i) =>
      bar.contents.map(new Region(`virtio-pci-${names[i]}-${options.virtioName}`, r.size, r.ops, { owner }), r.offset),
    );
    this.addVendorCap(VIRTIO_PCI_CAP_COMMON_CFG, MODERN_MEM_BAR, commonRegion);
    this.addVendorCap(VIRTIO_PCI_CAP_ISR_CFG, MODERN_MEM_BAR, isr);
    this.addVendorCap(VIRTIO_PCI_CAP_DEVICE_CFG, MODERN_MEM_BAR, config);
    this.addVendorCap(VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_MEM_BAR, notify, notifyMultiplier);
    if (options.pioNotify) {
      // The queue number is the value written, not the address.
      const pio = region(0, 4, { read: () => 0, write: (_o, _s, v) => core.kick(v) });
      this.regions.push(pio);
      const ioBar = new Bar(MODERN_IO_BAR, { kind: "io", size: 4, name: "virtio-pci-io" });
      device.function.registerBar(ioBar);
      ioBar.contents.map(new Region(`virtio-pci-notify-pio-${options.virtioName}`, 4, pio.ops, { owner }), 0);
      this.addVendorCap(VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_IO_BAR, pio, 0);
    }
    const at = device.capabilities.add(PCI_CAP_ID_VNDR, VIRTIO_PCI_CFG_CAP_SIZE);
    const s = device.config;
    s.set8(at + CAP_LEN, VIRTIO_PCI_CFG_CAP_SIZE);
    s.set8(at + CAP_CFG_TYPE, VIRTIO_PCI_CAP_PCI_CFG);
    s.wmask[at + CAP_BAR] = 0xff;
    s.wmask.fill(0xff, at + CAP_OFFSET, at + CAP_PCI_CFG_DATA + 4);
    this.cfgCap = at;
    device.function.onConfigWrite(at + CAP_PCI_CFG_DATA, 4, () => this.cfgWindow(true));
    // Reads through the window only do something once the guest gave it a length (1, 2 or 4).
    this.cfgWindowRead = device.function.onConfigRead(at + CAP_PCI_CFG_DATA, 4, () => this.cfgWindow(false), false);
    device.function.onConfigWrite(at + CAP_LENGTH, 4, () => this.armCfgWindow());
  }

  /** The window's read hook follows the capability's length field (also after a snapshot loaded it). */
  armCfgWindow(): void {
    const len = this.device.config.get32(this.cfgCap + CAP_LENGTH);
    this.cfgWindowRead.arm(len === 1 || len === 2 || len === 4);
  }

  private addVendorCap(type: number, barIndex: number, r: ModernRegion, multiplier?: number): void {
    const size = multiplier === undefined ? VIRTIO_PCI_CAP_SIZE : VIRTIO_PCI_NOTIFY_CAP_SIZE;
    const at = this.device.capabilities.add(PCI_CAP_ID_VNDR, size);
    const s = this.device.config;
    s.set8(at + CAP_LEN, size);
    s.set8(at + CAP_CFG_TYPE, type);
    s.set8(at + CAP_BAR, barIndex);
    s.set32(at + CAP_OFFSET, r.offset);
    s.set32(at + CAP_LENGTH, r.size);
    if (multiplier !== undefined) s.set32(at + CAP_NOTIFY_MULTIPLIER, multiplier);
  }

  /** Moves 1, 2 or 4 bytes between pci_cfg_data and the modern region at the capability's offset. */
  private cfgWindow(write: boolean): void {
    const s = this.device.config;
    const len = s.get32(this.cfgCap + CAP_LENGTH);
    if (len !== 1 && len !== 2 && len !== 4) return;
    let offset = s.get32(this.cfgCap + CAP_OFFSET) & ~(len - 1);
    // QEMU looks the offset up among the regions in order and ignores the capability's BAR field.
    const r = this.regions.find((m) => offset >= m.offset && offset + len <= m.offset + m.size);
    if (!r) return;
    offset -= r.offset;
    const data = this.cfgCap + CAP_PCI_CFG_DATA;
    if (write) r.ops.write(offset, len, getLe(s.config, data, len));
    else setLe(s.config, data, r.ops.read(offset, len), len);
  }
}
