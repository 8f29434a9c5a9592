import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, EVENTS, MEMORY_SPACE, PCI_HOST } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import type { PciHost } from "../src/pci/host.js";

/** Register offsets of the 82P35 MCH (QEMU's include/hw/pci-host/q35.h). */
const MCH_EXT_TSEG_MBYTES = 0x50;
const MCH_EXT_TSEG_MBYTES_QUERY = 0xffff;
const MCH_PCIEXBAR = 0x60; // 64 bits
const MCH_PCIEXBAR_DEFAULT = 0xb0000000;
const MCH_F_SMBASE = 0x9c;
const MCH_F_SMBASE_QUERY = 0xff;
const MCH_F_SMBASE_IN_RAM = 0x01;
const MCH_F_SMBASE_LCK = 0x02;
const MCH_SMRAM = 0x9d;
const MCH_ESMRAMC = 0x9e;
const SMRAM_D_OPEN = 0x40;
const SMRAM_D_CLS = 0x20;
const SMRAM_D_LCK = 0x10;
const SMRAM_G_SMRAME = 0x08;
const SMRAM_C_BASE_SEG = 0x02; // hardwired 010b: SMRAM at 0xa0000
const SMRAM_WMASK = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME;
const ESMRAMC_DEFAULT = 0x20 | 0x10 | 0x08; // SM_CACHE, SM_L1, SM_L2
const ESMRAMC_WMASK = 0x80 | 0x06 | 0x01; // H_SMRAME, TSEG_SZ, T_EN

/** PCIEXBAR address bits 35:28; QEMU adds bits 26 and 25 at 128 MiB and bit 25 at 64 MiB. */
const PCIEXBAR_ADMSK = 0xf_f000_0000n;
const PCIEXBAR_128ADMSK = 1n << 26n;
const PCIEXBAR_64ADMSK = 1n << 25n;
const PCIEXBAR_ENABLE = 1n;

/** ECAM size by PCIEXBAR length bits 2:1 (11b is reserved). */
const ECAM_LENGTHS: readonly (number | null)[] = [256 << 20, 128 << 20, 64 << 20, null];
/** Above BAR windows (priority 1): in QEMU the MMCONFIG region sits over the whole PCI address space. */
const ECAM_PRIORITY = 2;

const properties = {
  "extended-tseg-mbytes": prop(types.uint16, 16, "TSEG size in MiB the guest reads when it writes 0xffff to 0x50 (0: no extended TSEG)"),
  "smbase-smram": prop(types.bool, true, "SMRAM at SMBASE (F_SMBASE at 0x9c negotiates it with the firmware)"),
};

/**
 * Intel 82P35 memory controller hub, the q35 host bridge at 00.0 (QEMU's "mch", 8086:29c0).
 * Its PCIEXBAR (0x60, 64 bits) places, sizes and enables the ECAM window, which this device
 * maps into the memory space and unmaps as the guest programs it. SMRAM (0x9d) and ESMRAMC
 * (0x9e) have QEMU's masks and lock (D_LCK freezes them until reset); the extended TSEG size
 * (0x50) and the SMBASE negotiation (0x9c) answer as QEMU's do. PAM (0x90-0x96) and the SMRAM
 * and TSEG memory mappings themselves are the embedder's: they change no config byte.
 */
@pciDriver({
  name: "mch",
  description: "Host bridge",
  category: "bridge",
  properties,
  userCreatable: false,
  hotpluggable: false,
})
export class Mch extends PciDevice {
  private ecam: { region: Region; base: number } | null = null;
  private readonly smbaseSmram: boolean;
  private readonly extTsegMbytes: number;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(MEMORY_SPACE) private readonly memory: AddressSpace,
    @inject(PCI_HOST) private readonly host: PciHost,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x29c0, classCode: 0x0600 }, props);
    this.smbaseSmram = props["smbase-smram"];
    this.extTsegMbytes = props["extended-tseg-mbytes"];
    const fn = this.function;
    fn.onConfigWrite(MCH_EXT_TSEG_MBYTES, 2, () => this.updateExtTseg());
    fn.onConfigWrite(MCH_PCIEXBAR, 8, () => this.updatePciexbar());
    // QEMU's mch_write_config: SMRAM before F_SMBASE, whichever bytes the access covered.
    fn.onConfigWrite(MCH_SMRAM, 2, () => this.updateSmram());
    fn.onConfigWrite(MCH_F_SMBASE, 1, () => this.updateSmbase());
  }

  /** QEMU's mch_reset: PCIEXBAR off at its default base, SMRAM defaults and masks, the queries armed. */
  protected override resetRegisters(): void {
    const s = this.config;
    s.set32(MCH_PCIEXBAR, MCH_PCIEXBAR_DEFAULT);
    s.set32(MCH_PCIEXBAR + 4, 0);
    s.set8(MCH_SMRAM, SMRAM_C_BASE_SEG);
    s.set8(MCH_ESMRAMC, ESMRAMC_DEFAULT);
    s.wmask[MCH_SMRAM] = SMRAM_WMASK;
    s.wmask[MCH_ESMRAMC] = ESMRAMC_WMASK;
    if (this.extTsegMbytes > 0) s.set16(MCH_EXT_TSEG_MBYTES, MCH_EXT_TSEG_MBYTES_QUERY);
    s.set8(MCH_F_SMBASE, 0);
    s.wmask[MCH_F_SMBASE] = 0xff;
    this.update();
  }

  /**
   * QEMU's mch_post_load, except for F_SMBASE: QEMU runs its update with the destination's fresh
   * write mask and so drops a negotiated or locked SMBASE; here the mask follows the loaded byte
   * (0: never asked, IN_RAM: asked, LCK: locked), so a snapshot brings the register back.
   */
  override stateLoaded(): void {
    const s = this.config;
    const smbase = s.get8(MCH_F_SMBASE);
    if (this.smbaseSmram) s.wmask[MCH_F_SMBASE] = smbase & MCH_F_SMBASE_LCK ? 0 : smbase ? MCH_F_SMBASE_LCK : 0xff;
    this.updatePciexbar();
    this.updateSmram();
    this.updateExtTseg();
    if (smbase & MCH_F_SMBASE_LCK || !smbase) this.updateSmbase();
  }

  override unplugging(): void {
    this.mapEcam(null);
  }

  /** Where ECAM decodes now, or null. */
  get ecamWindow(): { base: number; size: number } | null {
    return this.ecam ? { base: this.ecam.base, size: this.ecam.region.size } : null;
  }

  /** QEMU's mch_update. */
  private update(): void {
    this.updatePciexbar();
    this.updateSmram();
    this.updateExtTseg();
    this.updateSmbase();
  }

  /** QEMU's mch_update_pciexbar: a reserved length leaves the window as it was. */
  private updatePciexbar(): void {
    const s = this.config;
    const bar = BigInt(s.get32(MCH_PCIEXBAR)) | (BigInt(s.get32(MCH_PCIEXBAR + 4)) << 32n);
    const length = Number((bar >> 1n) & 3n);
    const size = ECAM_LENGTHS[length]!;
    if (size === null) return;
    let mask = PCIEXBAR_ADMSK;
    if (length === 1) mask |= PCIEXBAR_128ADMSK | PCIEXBAR_64ADMSK;
    if (length === 2) mask |= PCIEXBAR_64ADMSK;
    this.mapEcam(bar & PCIEXBAR_ENABLE ? { base: Number(bar & mask), size } : null);
  }

  private mapEcam(next: { base: number; size: number } | null): void {
    const old = this.ecam;
    if (old && next && old.base === next.base && old.region.size === next.size) return;
    if (old) this.memory.unmap(old.region);
    this.ecam = null;
    if (next) {
      const region = new Region("pcie-mmcfg-mmio", next.size, this.host.ecam, { owner: "mch" });
      this.memory.map(region, next.base, ECAM_PRIORITY);
      this.ecam = { region, base: next.base };
    }
    if (!old && !next) return;
    this.events.emit(next ? "region-mapped" : "region-unmapped", {
      device: this.id ?? this.driver,
      region: "pcie-mmcfg-mmio",
      space: "memory",
      size: next?.size ?? old!.region.size,
      oldAddress: old?.base ?? null,
      newAddress: next?.base ?? null,
    });
  }

  /** QEMU's mch_update_smram, config side: D_LCK closes D_OPEN and freezes SMRAM and ESMRAMC. */
  private updateSmram(): void {
    const s = this.config;
    if (!(s.get8(MCH_SMRAM) & SMRAM_D_LCK)) return;
    s.set8(MCH_SMRAM, s.get8(MCH_SMRAM) & ~SMRAM_D_OPEN);
    s.wmask[MCH_SMRAM] = SMRAM_D_CLS;
    s.wmask[MCH_ESMRAMC] = 0;
  }

  /** QEMU's mch_update_ext_tseg_mbytes: writing 0xffff asks the TSEG size in MiB. */
  private updateExtTseg(): void {
    const s = this.config;
    if (this.extTsegMbytes > 0 && s.get16(MCH_EXT_TSEG_MBYTES) === MCH_EXT_TSEG_MBYTES_QUERY) {
      s.set16(MCH_EXT_TSEG_MBYTES, this.extTsegMbytes);
    }
  }

  /**
   * QEMU's mch_update_smbase_smram: 0xff asks whether SMRAM at SMBASE exists (answer: IN_RAM,
   * and only LCK stays writable); until then a write is discarded; LCK locks it until reset.
   */
  private updateSmbase(): void {
    if (!this.smbaseSmram) return;
    const s = this.config;
    if (s.get8(MCH_F_SMBASE) === MCH_F_SMBASE_QUERY) {
      s.wmask[MCH_F_SMBASE] = MCH_F_SMBASE_LCK;
      s.set8(MCH_F_SMBASE, MCH_F_SMBASE_IN_RAM);
      return;
    }
    if (s.wmask[MCH_F_SMBASE] === 0xff) s.set8(MCH_F_SMBASE, 0);
    if (s.get8(MCH_F_SMBASE) & MCH_F_SMBASE_LCK) {
      s.wmask[MCH_F_SMBASE] = s.wmask[MCH_F_SMBASE]! & ~MCH_F_SMBASE_LCK;
      s.set8(MCH_F_SMBASE, MCH_F_SMBASE_LCK);
    }
  }
}
