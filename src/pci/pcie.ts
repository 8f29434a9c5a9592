import { MachbusError } from "../errors.js";
import type { PciBus } from "./bus.js";
import { getLe, setLe, type ConfigSpace } from "./config-space.js";
import { PCI_CAP_ID_EXP, PCI_CONFIG_SPACE_SIZE } from "./constants.js";
import type { PciDevice } from "./device.js";
import type { PciFunction } from "./function.js";

/**
 * The PCI Express capability (PCIe base spec 7.5.3; QEMU's hw/pci/pcie.c): device/port type,
 * device, link and slot registers with QEMU's masks, and the slot's hotplug state machine that
 * root and downstream ports share. Extended capabilities live in pcie-extcaps.ts.
 */

// Register offsets within the capability.
export const PCI_EXP_FLAGS = 0x02;
export const PCI_EXP_DEVCAP = 0x04;
export const PCI_EXP_DEVCTL = 0x08;
export const PCI_EXP_DEVSTA = 0x0a;
export const PCI_EXP_LNKCAP = 0x0c;
export const PCI_EXP_LNKCTL = 0x10;
export const PCI_EXP_LNKSTA = 0x12;
export const PCI_EXP_SLTCAP = 0x14;
export const PCI_EXP_SLTCTL = 0x18;
export const PCI_EXP_SLTSTA = 0x1a;
export const PCI_EXP_RTCTL = 0x1c;
export const PCI_EXP_DEVCAP2 = 0x24;
export const PCI_EXP_DEVCTL2 = 0x28;
export const PCI_EXP_LNKCAP2 = 0x2c;
export const PCI_EXP_LNKCTL2 = 0x30;
/** Capability sizes: version 1 (QEMU's e1000e uses it) and version 2. */
export const PCI_EXP_VER1_SIZEOF = 0x14;
export const PCI_EXP_VER2_SIZEOF = 0x3c;

/** Device/port types (PCI_EXP_FLAGS bits 7:4). */
export const PCIE_TYPE = {
  endpoint: 0x0,
  legacyEndpoint: 0x1,
  rootPort: 0x4,
  upstream: 0x5,
  downstream: 0x6,
  pciBridge: 0x7,
  pcieBridge: 0x8,
  rcEndpoint: 0x9,
  rcEventCollector: 0xa,
} as const;

export const PCI_EXP_FLAGS_TYPE = 0x00f0;
export const PCI_EXP_FLAGS_SLOT = 0x0100;
export const PCI_EXP_FLAGS_IRQ = 0x3e00;
export const PCI_EXP_DEVCAP_RBER = 0x00008000;
export const PCI_EXP_DEVCAP_FLR = 0x10000000;
export const PCI_EXP_DEVCTL_CERE = 0x0001;
export const PCI_EXP_DEVCTL_NFERE = 0x0002;
export const PCI_EXP_DEVCTL_FERE = 0x0004;
export const PCI_EXP_DEVCTL_URRE = 0x0008;
export const PCI_EXP_DEVCTL_BCR_FLR = 0x8000;
export const PCI_EXP_DEVSTA_CED = 0x0001;
export const PCI_EXP_DEVSTA_NFED = 0x0002;
export const PCI_EXP_DEVSTA_FED = 0x0004;
export const PCI_EXP_DEVSTA_URD = 0x0008;
export const PCI_EXP_LNKCAP_SLS = 0x0000000f;
export const PCI_EXP_LNKCAP_MLW = 0x000003f0;
export const PCI_EXP_LNKCAP_ASPMS_0S = 0x00000400;
export const PCI_EXP_LNKCAP_DLLLARC = 0x00100000;
export const PCI_EXP_LNKCAP_LBNC = 0x00200000;
export const PCI_EXP_LNKCTL_CCC = 0x0040;
export const PCI_EXP_LNKCTL_ES = 0x0080;
export const PCI_EXP_LNKSTA_CLS = 0x000f;
export const PCI_EXP_LNKSTA_NLW = 0x03f0;
export const PCI_EXP_LNKSTA_DLLLA = 0x2000;
export const PCI_EXP_SLTCAP_ABP = 0x00000001;
export const PCI_EXP_SLTCAP_PCP = 0x00000002;
export const PCI_EXP_SLTCAP_AIP = 0x00000008;
export const PCI_EXP_SLTCAP_PIP = 0x00000010;
export const PCI_EXP_SLTCAP_HPS = 0x00000020;
export const PCI_EXP_SLTCAP_HPC = 0x00000040;
export const PCI_EXP_SLTCAP_EIP = 0x00020000;
export const PCI_EXP_SLTCAP_PSN_SHIFT = 19;
export const PCI_EXP_SLTCTL_ABPE = 0x0001;
export const PCI_EXP_SLTCTL_PDCE = 0x0008;
export const PCI_EXP_SLTCTL_CCIE = 0x0010;
export const PCI_EXP_SLTCTL_HPIE = 0x0020;
export const PCI_EXP_SLTCTL_AIC = 0x00c0;
export const PCI_EXP_SLTCTL_AIC_OFF = 0x00c0;
export const PCI_EXP_SLTCTL_PIC = 0x0300;
export const PCI_EXP_SLTCTL_PIC_ON = 0x0100;
export const PCI_EXP_SLTCTL_PIC_BLINK = 0x0200;
export const PCI_EXP_SLTCTL_PIC_OFF = 0x0300;
export const PCI_EXP_SLTCTL_PCC = 0x0400;
export const PCI_EXP_SLTCTL_EIC = 0x0800;
export const PCI_EXP_SLTSTA_ABP = 0x0001;
export const PCI_EXP_SLTSTA_PFD = 0x0002;
export const PCI_EXP_SLTSTA_MRLSC = 0x0004;
export const PCI_EXP_SLTSTA_PDC = 0x0008;
export const PCI_EXP_SLTSTA_CC = 0x0010;
export const PCI_EXP_SLTSTA_PDS = 0x0040;
export const PCI_EXP_SLTSTA_EIS = 0x0080;
export const PCI_EXP_RTCTL_SECEE = 0x0001;
export const PCI_EXP_RTCTL_SENFEE = 0x0002;
export const PCI_EXP_RTCTL_SEFEE = 0x0004;
export const PCI_EXP_DEVCAP2_ARI = 0x00000020;
export const PCI_EXP_DEVCAP2_EFF = 0x00100000;
export const PCI_EXP_DEVCAP2_EETLPP = 0x00200000;
export const PCI_EXP_DEVCTL2_ARI = 0x0020;
export const PCI_EXP_DEVCTL2_EETLPPB = 0x8000;
export const PCI_EXP_LNKCAP2_SLS_2_5GB = 0x02;
export const PCI_EXP_LNKCAP2_SLS_5_0GB = 0x04;
export const PCI_EXP_LNKCAP2_SLS_8_0GB = 0x08;
export const PCI_EXP_LNKCAP2_SLS_16_0GB = 0x10;
export const PCI_EXP_LNKCTL2_TLS = 0x000f;

/** Slot events (the same bits in slot control as enables and in slot status as events). */
export const PCI_EXP_HP_EV_ABP = PCI_EXP_SLTCTL_ABPE;
export const PCI_EXP_HP_EV_PDC = PCI_EXP_SLTCTL_PDCE;
export const PCI_EXP_HP_EV_CCI = PCI_EXP_SLTCTL_CCIE;
export const PCI_EXP_HP_EV_SUPPORTED = PCI_EXP_HP_EV_ABP | PCI_EXP_HP_EV_PDC | PCI_EXP_HP_EV_CCI;
/** Status bits QEMU restores when a write clears events that were not set (guests that clear all during init). */
const PCIE_SLOT_EVENTS = PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PFD | PCI_EXP_SLTSTA_MRLSC | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC;

/** Link speeds (QEMU's PCIExpLinkSpeed: the LNKCAP speed encoding) and widths (lane count). */
export const PCIE_LINK_SPEED = { "2_5": 1, "5": 2, "8": 3, "16": 4 } as const;
export type PcieLinkSpeed = (typeof PCIE_LINK_SPEED)[keyof typeof PCIE_LINK_SPEED];
export const PCIE_LINK_WIDTHS = [1, 2, 4, 8, 12, 16, 32] as const;
export type PcieLinkWidth = (typeof PCIE_LINK_WIDTHS)[number];

export interface PcieCapabilityOptions {
  /** Fixed offset of the capability; the first free gap when absent. */
  offset?: number;
  /** Device/port type (PCIE_TYPE). */
  type: number;
  /** Capability version 1 (0x14 bytes) or 2 (0x3c bytes). */
  version: 1 | 2;
  /** Port number (LNKCAP bits 31:24). */
  port?: number;
  /** A slot's configured link (QEMU's PCIESlot x-speed / x-width), for ports only. */
  slotLink?: { speed: PcieLinkSpeed; width: PcieLinkWidth };
}

/**
 * One function's PCI Express capability (QEMU's pcie_cap_init / pcie_cap_v1_init and the
 * pcie_cap_*_init helpers): the registers and masks, then opt-in parts the device adds in
 * QEMU's order. The device's `x-pcie-extcap-init` property (on by default) makes the 0x100
 * header read-only, as a null extended capability header.
 */
export class PcieCapability {
  readonly offset: number;
  readonly size: number;
  private readonly s: ConfigSpace;

  constructor(
    readonly device: PciDevice,
    options: PcieCapabilityOptions,
  ) {
    const fn = device.function;
    if (!fn.isExpress) {
      throw new MachbusError("capability-bad-offset", `${fn.label}: a PCI Express capability needs a PCI Express (4096-byte) config space`);
    }
    this.size = options.version === 1 ? PCI_EXP_VER1_SIZEOF : PCI_EXP_VER2_SIZEOF;
    this.offset = device.capabilities.add(PCI_CAP_ID_EXP, this.size, options.offset);
    this.s = device.config;
    const s = this.s;
    const at = this.offset;
    s.set16(at + PCI_EXP_FLAGS, ((options.type << 4) & PCI_EXP_FLAGS_TYPE) | options.version);
    s.set32(at + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER);
    s.set32(at + PCI_EXP_LNKCAP, (((options.port ?? 0) & 0xff) << 24) | PCI_EXP_LNKCAP_ASPMS_0S | linkWidth(1) | PCIE_LINK_SPEED["2_5"]);
    s.set16(at + PCI_EXP_LNKSTA, linkWidth(1) | PCIE_LINK_SPEED["2_5"]);
    // Link status changes with the link: not checked on load, as QEMU.
    setLe(s.cmask, at + PCI_EXP_LNKSTA, 0, 2);
    if (options.version === 1) return;
    if (options.slotLink) this.fillSlotLink(options.slotLink.speed, options.slotLink.width);
    s.set32(at + PCI_EXP_DEVCAP2, PCI_EXP_DEVCAP2_EFF | PCI_EXP_DEVCAP2_EETLPP);
    setLe(s.wmask, at + PCI_EXP_DEVCTL2, PCI_EXP_DEVCTL2_EETLPPB, 2);
    if (device.props["x-pcie-extcap-init"]) setLe(s.wmask, PCI_CONFIG_SPACE_SIZE, 0, 4);
  }

  /** The device/port type the capability announces. */
  get type(): number {
    return (this.s.get16(this.offset + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4;
  }

  /** QEMU's pcie_cap_fill_slot_lnk: a port's link capabilities from its configured speed and width. */
  private fillSlotLink(speed: PcieLinkSpeed, width: PcieLinkWidth): void {
    const s = this.s;
    const at = this.offset;
    let lnkcap = (s.get32(at + PCI_EXP_LNKCAP) & ~(PCI_EXP_LNKCAP_MLW | PCI_EXP_LNKCAP_SLS)) | linkWidth(width) | speed;
    // Link bandwidth notification: ports wider than x1 or faster than 2.5 GT/s.
    if (width > 1 || speed > PCIE_LINK_SPEED["2_5"]) lnkcap |= PCI_EXP_LNKCAP_LBNC;
    if (speed > PCIE_LINK_SPEED["2_5"]) {
      lnkcap |= PCI_EXP_LNKCAP_DLLLARC;
      s.set16(at + PCI_EXP_LNKCTL2, (s.get16(at + PCI_EXP_LNKCTL2) & ~PCI_EXP_LNKCTL2_TLS) | (speed & PCI_EXP_LNKCTL2_TLS));
    }
    s.set32(at + PCI_EXP_LNKCAP, lnkcap >>> 0);
    if (speed > PCIE_LINK_SPEED["5"]) {
      let lnkcap2 = PCI_EXP_LNKCAP2_SLS_2_5GB | PCI_EXP_LNKCAP2_SLS_5_0GB | PCI_EXP_LNKCAP2_SLS_8_0GB;
      if (speed > PCIE_LINK_SPEED["8"]) lnkcap2 |= PCI_EXP_LNKCAP2_SLS_16_0GB;
      s.set32(at + PCI_EXP_LNKCAP2, lnkcap2);
    }
  }

  /** The MSI/MSI-X vector the function signals PCIe events with (PCI_EXP_FLAGS bits 13:9). */
  setVector(vector: number): void {
    const at = this.offset + PCI_EXP_FLAGS;
    this.s.set16(at, (this.s.get16(at) & ~PCI_EXP_FLAGS_IRQ) | ((vector << 9) & PCI_EXP_FLAGS_IRQ));
  }

  get vector(): number {
    return (this.s.get16(this.offset + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_IRQ) >> 9;
  }

  /** QEMU's pcie_cap_deverr_init: error reporting enables writable, error status bits write-1-to-clear. */
  deverrInit(): void {
    const at = this.offset;
    orLe(this.s.config, at + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER, 4);
    orLe(this.s.wmask, at + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE, 4);
    orLe(this.s.w1cmask, at + PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED | PCI_EXP_DEVSTA_FED | PCI_EXP_DEVSTA_URD, 4);
  }

  deverrReset(): void {
    clearLe(
      this.s.config,
      this.offset + PCI_EXP_DEVCTL,
      PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE,
      4,
    );
  }

  /** QEMU's pcie_cap_lnkctl_init: common clock and extended synch writable. */
  lnkctlInit(): void {
    orLe(this.s.wmask, this.offset + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES, 4);
  }

  lnkctlReset(): void {
    clearLe(this.s.config, this.offset + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES, 4);
  }

  /** QEMU's pcie_cap_root_init: the root control's system-error enables are writable (PME is not emulated). */
  rootInit(): void {
    setLe(this.s.wmask, this.offset + PCI_EXP_RTCTL, PCI_EXP_RTCTL_SECEE | PCI_EXP_RTCTL_SENFEE | PCI_EXP_RTCTL_SEFEE, 2);
  }

  rootReset(): void {
    this.s.set16(this.offset + PCI_EXP_RTCTL, 0);
  }

  /**
   * QEMU's pcie_cap_flr_init: function level reset. The initiate bit is writable so that a
   * write of 1 is seen; it then resets the function (`reset`) and reads back 0.
   */
  flrInit(reset: () => void): void {
    orLe(this.s.config, this.offset + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR, 4);
    orLe(this.s.wmask, this.offset + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, 2);
    this.device.function.onConfigWrite(this.offset + PCI_EXP_DEVCTL, 2, () => {
      const at = this.offset + PCI_EXP_DEVCTL;
      if (!(this.s.get16(at) & PCI_EXP_DEVCTL_BCR_FLR)) return;
      reset();
      this.s.set16(at, this.s.get16(at) & ~PCI_EXP_DEVCTL_BCR_FLR);
    });
  }

  /** QEMU's pcie_cap_arifwd_init: a port forwards ARI routing IDs when the guest enables it. */
  arifwdInit(): void {
    orLe(this.s.config, this.offset + PCI_EXP_DEVCAP2, PCI_EXP_DEVCAP2_ARI, 4);
    orLe(this.s.wmask, this.offset + PCI_EXP_DEVCTL2, PCI_EXP_DEVCTL2_ARI, 4);
  }

  arifwdReset(): void {
    clearLe(this.s.config, this.offset + PCI_EXP_DEVCTL2, PCI_EXP_DEVCTL2_ARI, 4);
  }

  /**
   * QEMU's pci_default_read_config for downstream ports: every read of link status first syncs
   * it with the device below (`secondary()`, null before the port is plugged).
   */
  syncLinkOnRead(secondary: () => PciBus | null): void {
    this.device.function.onConfigRead(this.offset + PCI_EXP_LNKSTA, 2, () => {
      const bus = secondary();
      if (bus) this.syncBridgeLink(bus);
    });
  }

  /**
   * QEMU's pcie_sync_bridge_lnk: a port's negotiated speed and width follow the device below it
   * (capped at what the port supports); without one, the port's own capabilities.
   */
  syncBridgeLink(secondary: PciBus): void {
    const s = this.s;
    const at = this.offset;
    const lnkcap = s.get16(at + PCI_EXP_LNKCAP);
    const target = secondary.get(0);
    const targetCap = target ? expressCapabilityOffset(target) : 0;
    let lnksta: number;
    if (!target || !targetCap) lnksta = lnkcap;
    else {
      lnksta = target.space.get16(targetCap + PCI_EXP_LNKSTA);
      if ((lnksta & PCI_EXP_LNKSTA_NLW) > (lnkcap & PCI_EXP_LNKCAP_MLW))
        lnksta = (lnksta & ~PCI_EXP_LNKSTA_NLW) | (lnkcap & PCI_EXP_LNKCAP_MLW);
      if ((lnksta & PCI_EXP_LNKSTA_CLS) > (lnkcap & PCI_EXP_LNKCAP_SLS))
        lnksta = (lnksta & ~PCI_EXP_LNKSTA_CLS) | (lnkcap & PCI_EXP_LNKCAP_SLS);
    }
    if (!(lnksta & PCI_EXP_LNKSTA_NLW)) lnksta |= linkWidth(1);
    if (!(lnksta & PCI_EXP_LNKSTA_CLS)) lnksta |= PCIE_LINK_SPEED["2_5"];
    const mask = PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW;
    s.set16(at + PCI_EXP_LNKSTA, (s.get16(at + PCI_EXP_LNKSTA) & ~mask) | (lnksta & mask));
  }
}

/**
 * QEMU's pcie_endpoint_cap_init and _v1_init: an endpoint's capability, typed as a root complex
 * integrated endpoint on a PCI Express root bus (Windows refuses plain endpoints there).
 */
export function endpointCapability(device: PciDevice, bus: PciBus, options: { offset?: number; version: 1 | 2 }): PcieCapability {
  const type = bus.express && bus.isRoot ? PCIE_TYPE.rcEndpoint : PCIE_TYPE.endpoint;
  return new PcieCapability(device, { ...options, type });
}

/** Offset of a function's PCI Express capability, or 0 (it walks the capability list). */
export function expressCapabilityOffset(fn: PciFunction): number {
  const c = fn.space.config;
  if (!(c[0x06]! & 0x10)) return 0;
  for (let p = c[0x34]!, n = 0; p >= 0x40 && n < 48; p = c[p + 1]!, n++) if (c[p] === PCI_CAP_ID_EXP) return p;
  return 0;
}

export interface PcieSlotOptions {
  /** Physical slot number (SLTCAP bits 31:19). */
  slot: number;
  /** Whether the slot takes hotplug at all (QEMU's PCIESlot `hotplug` property). */
  hotplug: boolean;
  /** Whether the slot announces native hotplug (HPS, HPC): `x-native-hotplug`, or the port was itself hot-added. */
  nativeHotplug: boolean;
  /** A power controller (QEMU_PCIE_SLTCAP_PCP, the port's `power_controller_present`). */
  powerController: boolean;
  /** Signals a hotplug event to the guest (the port's MSI-X, MSI or INTx, as it has them); level for INTx. */
  notify(level: boolean): void;
  /** QEMU's hotplug_event_clear: nothing enabled is pending any more; drops INTx (message-signalled ports send nothing). */
  clearIntx(): void;
  /** Powers the secondary bus's functions on or off (QEMU's pci_set_power: off also resets them). */
  setPower(on: boolean): void;
  /** Removes the devices below the port (the unplug a guest's power-off completes). */
  unplugAll(): void;
  /** The devices below the port, if any: function 0 of slot 0 (downstream ports only reach device 0). */
  populated(): boolean;
}

/**
 * The slot registers of a root or downstream port and QEMU's hotplug state machine
 * (pcie_cap_slot_*): presence detect, attention button, power controller and indicators,
 * command completion, the electromechanical interlock, and event notification.
 */
export class PcieSlot {
  /** QEMU's hpev_notified: whether an enabled event is being signalled. */
  private notified = false;
  /** Slot control and status as the last guest write found them (QEMU's pcie_cap_slot_get before the write). */
  private before = { control: 0, status: 0 };
  private readonly s: ConfigSpace;
  private readonly at: number;

  constructor(
    readonly cap: PcieCapability,
    private readonly options: PcieSlotOptions,
  ) {
    const s = cap.device.config;
    this.s = s;
    this.at = cap.offset;
    const at = cap.offset;
    orLe(s.config, at + PCI_EXP_FLAGS, PCI_EXP_FLAGS_SLOT, 2);
    let sltcap = (s.get32(at + PCI_EXP_SLTCAP) & (0x1fff << PCI_EXP_SLTCAP_PSN_SHIFT)) >>> 0;
    sltcap |=
      (options.slot << PCI_EXP_SLTCAP_PSN_SHIFT) | PCI_EXP_SLTCAP_EIP | PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_ABP;
    if (options.hotplug && options.nativeHotplug) sltcap |= PCI_EXP_SLTCAP_HPS | PCI_EXP_SLTCAP_HPC;
    if (options.powerController) sltcap |= PCI_EXP_SLTCAP_PCP;
    s.set32(at + PCI_EXP_SLTCAP, sltcap >>> 0);
    let ctl = s.get16(at + PCI_EXP_SLTCTL);
    if (options.powerController) {
      ctl &= ~PCI_EXP_SLTCTL_PCC;
      orLe(s.wmask, at + PCI_EXP_SLTCTL, PCI_EXP_SLTCTL_PCC, 2);
    }
    s.set16(at + PCI_EXP_SLTCTL, (ctl & ~(PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC)) | PCI_EXP_SLTCTL_PIC_OFF | PCI_EXP_SLTCTL_AIC_OFF);
    // EIC is writable so that a write of 1 is seen; it toggles the interlock and reads back 0.
    orLe(
      s.wmask,
      at + PCI_EXP_SLTCTL,
      PCI_EXP_SLTCTL_PIC |
        PCI_EXP_SLTCTL_AIC |
        PCI_EXP_SLTCTL_HPIE |
        PCI_EXP_SLTCTL_CCIE |
        PCI_EXP_SLTCTL_PDCE |
        PCI_EXP_SLTCTL_ABPE |
        PCI_EXP_SLTCTL_EIC,
      2,
    );
    orLe(s.w1cmask, at + PCI_EXP_SLTSTA, PCI_EXP_HP_EV_SUPPORTED, 2);
    // QEMU's rp_write_config: the slot sees every write to the port's config space.
    cap.device.function.onConfigWrite(0, s.size, (addr, value, len) => this.written(addr, value, len));
    this.remember();
  }

  get control(): number {
    return this.s.get16(this.at + PCI_EXP_SLTCTL);
  }

  get status(): number {
    return this.s.get16(this.at + PCI_EXP_SLTSTA);
  }

  private set status(v: number) {
    this.s.set16(this.at + PCI_EXP_SLTSTA, v);
    this.remember();
  }

  private remember(): void {
    this.before = { control: this.control, status: this.status };
  }

  /** Native hotplug announced after all (QEMU: a port that was itself hot-added always announces it). */
  announceNativeHotplug(): void {
    const at = this.at + PCI_EXP_SLTCAP;
    this.s.set32(at, (this.s.get32(at) | PCI_EXP_SLTCAP_HPS | PCI_EXP_SLTCAP_HPC) >>> 0);
  }

  get hotplugCapable(): boolean {
    return (this.s.get32(this.at + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC) !== 0;
  }

  private get powerController(): boolean {
    return (this.s.get32(this.at + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_PCP) !== 0;
  }

  /** QEMU's pcie_cap_slot_reset: indicators and enables off, power follows whether the slot is populated. */
  reset(): void {
    const at = this.at + PCI_EXP_SLTCTL;
    let ctl = this.s.get16(at);
    ctl &= ~(
      PCI_EXP_SLTCTL_EIC |
      PCI_EXP_SLTCTL_PIC |
      PCI_EXP_SLTCTL_AIC |
      PCI_EXP_SLTCTL_HPIE |
      PCI_EXP_SLTCTL_CCIE |
      PCI_EXP_SLTCTL_PDCE |
      PCI_EXP_SLTCTL_ABPE
    );
    ctl |= PCI_EXP_SLTCTL_AIC_OFF;
    if (this.powerController) {
      const populated = this.options.populated();
      ctl = populated ? ctl & ~PCI_EXP_SLTCTL_PCC : ctl | PCI_EXP_SLTCTL_PCC;
      ctl |= populated ? PCI_EXP_SLTCTL_PIC_ON : PCI_EXP_SLTCTL_PIC_OFF;
    }
    this.s.set16(at, ctl);
    this.status = this.status & ~(PCI_EXP_SLTSTA_EIS | PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_ABP); // remembers both
    this.updatePower();
    this.updateEventStatus();
  }

  /** Turns slot power on (QEMU's pcie_cap_slot_enable_power, which ACPI hotplug uses). */
  enablePower(): void {
    if (!this.powerController) return;
    this.s.set16(this.at + PCI_EXP_SLTCTL, this.control & ~PCI_EXP_SLTCTL_PCC);
    this.remember();
  }

  /** QEMU's pcie_cap_update_power: the secondary bus is powered unless the power controller is off. */
  updatePower(): void {
    this.options.setPower(!this.powerController || (this.control & PCI_EXP_SLTCTL_PCC) === 0);
  }

  /**
   * QEMU's pcie_cap_slot_write_config, after the masked bytes were written. Like QEMU it tests
   * the written value as the access carried it, whatever register the access started at.
   */
  private written(addr: number, value: number, len: number): void {
    const old = this.before;
    const at = this.at;
    let sltsta = this.status;
    if (overlaps(addr, len, at + PCI_EXP_SLTSTA, 2)) {
      // Guests clear all bits during init; clearing bits that were not set would lose events.
      if (value & ~old.status & PCIE_SLOT_EVENTS) {
        sltsta = (sltsta & ~PCIE_SLOT_EVENTS) | (old.status & PCIE_SLOT_EVENTS);
        this.status = sltsta;
      }
      this.clearEvent();
    }
    if (!overlaps(addr, len, at + PCI_EXP_SLTCTL, 2)) {
      this.remember();
      return;
    }
    const val = value;
    if (this.control & PCI_EXP_SLTCTL_EIC) {
      this.s.set16(at + PCI_EXP_SLTCTL, this.control & ~PCI_EXP_SLTCTL_EIC); // reads back 0
      sltsta ^= PCI_EXP_SLTSTA_EIS;
      this.status = sltsta;
    }
    // Populated, power indicator off and power off: the guest let go of the device. Not when it
    // already was so (guests rewrite the control of powered-off slots before powering them on).
    if (
      sltsta & PCI_EXP_SLTSTA_PDS &&
      val & PCI_EXP_SLTCTL_PCC &&
      (val & PCI_EXP_SLTCTL_PIC_OFF) === PCI_EXP_SLTCTL_PIC_OFF &&
      (!(old.control & PCI_EXP_SLTCTL_PCC) || (old.control & PCI_EXP_SLTCTL_PIC_OFF) !== PCI_EXP_SLTCTL_PIC_OFF)
    ) {
      this.doUnplug();
    }
    this.updatePower();
    this.notify();
    // Commands complete at once, so every write to slot control completes one.
    this.event(PCI_EXP_HP_EV_CCI);
    this.remember();
  }

  /** A device arrived below the port (QEMU's pcie_cap_slot_plug_cb); `hotplugged`: at run time, not at creation. */
  plugged(options: { hotplugged: boolean; functionZero: boolean; linkActive: boolean }): void {
    const lnkcap = this.s.get32(this.at + PCI_EXP_LNKCAP);
    const dllla = options.linkActive || (lnkcap & PCI_EXP_LNKCAP_DLLLARC) !== 0;
    if (options.hotplugged && !options.functionZero) return;
    this.status = this.status | PCI_EXP_SLTSTA_PDS;
    if (dllla) this.setLinkActive(true);
    // Devices present at creation need no event.
    if (options.hotplugged) this.event(PCI_EXP_HP_EV_PDC | PCI_EXP_HP_EV_ABP);
    this.updatePower();
  }

  /**
   * QEMU's pcie_cap_slot_unplug_request_cb checks and actions: refused without hotplug, with
   * the interlock engaged or the power indicator blinking; a powered-off slot unplugs at once;
   * otherwise the attention button is pressed for the guest. Returns what happened.
   */
  unplugRequest(portLabel: string): "unplugged" | "button" {
    const sltcap = this.s.get32(this.at + PCI_EXP_SLTCAP);
    if (!(sltcap & PCI_EXP_SLTCAP_HPC)) {
      throw new MachbusError("not-hotpluggable", `Hot-unplug failed: unsupported by the port device '${portLabel}'`);
    }
    this.checkInterlock();
    const ctl = this.control;
    if ((ctl & PCI_EXP_SLTCTL_PIC) === PCI_EXP_SLTCTL_PIC_BLINK) {
      throw new MachbusError("not-hotpluggable", "Hot-unplug failed: guest is busy (power indicator blinking)");
    }
    if ((ctl & PCI_EXP_SLTCTL_PIC) === PCI_EXP_SLTCTL_PIC_OFF && (ctl & PCI_EXP_SLTCTL_PCC) !== 0) {
      this.doUnplug();
      this.notify();
      this.status = this.status & ~PCI_EXP_SLTSTA_ABP;
      return "unplugged";
    }
    this.event(PCI_EXP_HP_EV_ABP);
    return "button";
  }

  /** QEMU's pcie_cap_slot_pre_plug_cb: hot-adding needs a hotplug-capable slot without the interlock engaged. */
  checkPlug(hotplugged: boolean, portLabel: string): void {
    if (hotplugged && !this.hotplugCapable) {
      throw new MachbusError("not-hotpluggable", `Hot-plug failed: unsupported by the port device '${portLabel}'`);
    }
    this.checkInterlock();
  }

  /** After a snapshot load (QEMU's pcie_cap_slot_post_load). */
  stateLoaded(): void {
    this.remember();
    this.updateEventStatus();
    this.updatePower();
  }

  private checkInterlock(): void {
    if (this.status & PCI_EXP_SLTSTA_EIS) throw new MachbusError("not-hotpluggable", "slot is electromechanically locked");
  }

  private doUnplug(): void {
    this.options.unplugAll();
    this.status = this.status & ~PCI_EXP_SLTSTA_PDS;
    this.setLinkActive(false);
    this.status = this.status | PCI_EXP_SLTSTA_PDC;
  }

  private setLinkActive(on: boolean): void {
    const at = this.at + PCI_EXP_LNKSTA;
    const v = this.s.get16(at);
    this.s.set16(at, on ? v | PCI_EXP_LNKSTA_DLLLA : v & ~PCI_EXP_LNKSTA_DLLLA);
  }

  /** QEMU's pcie_cap_slot_event: set the event bits; signal only when something changed. */
  private event(bits: number): void {
    const before = this.status;
    this.status = before | bits;
    if ((before & bits) === bits) return;
    this.notify();
  }

  private updateEventStatus(): void {
    const ctl = this.control;
    this.notified = (ctl & PCI_EXP_SLTCTL_HPIE) !== 0 && (this.status & ctl & PCI_EXP_HP_EV_SUPPORTED) !== 0;
  }

  /** QEMU's hotplug_event_notify: signal when the notified state changed (masked interrupts included). */
  private notify(): void {
    const before = this.notified;
    this.updateEventStatus();
    if (before !== this.notified) this.options.notify(this.notified);
  }

  /** QEMU's hotplug_event_clear: drop an INTx level once nothing enabled is pending. */
  private clearEvent(): void {
    this.updateEventStatus();
    if (!this.notified) this.options.clearIntx();
  }
}

/** QEMU_PCI_EXP_LNKCAP_MLW: the width field of link capabilities/status. */
function linkWidth(lanes: number): number {
  return lanes << 4;
}

function overlaps(addr: number, len: number, start: number, size: number): boolean {
  return addr < start + size && start < addr + len;
}

function orLe(arr: Uint8Array, addr: number, bits: number, len: number): void {
  setLe(arr, addr, (getLe(arr, addr, len) | bits) >>> 0, len);
}

function clearLe(arr: Uint8Array, addr: number, bits: number, len: number): void {
  setLe(arr, addr, (getLe(arr, addr, len) & ~bits) >>> 0, len);
}
