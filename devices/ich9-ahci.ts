import { inject } from "tsyringe";
import { describeState, u32 } from "../src/state/description.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { Msi } from "../src/pci/msi.js";

const ICH9_IDP_BAR = 4;
const ICH9_MEM_BAR = 5;
const ICH9_IDP_SIZE = 32;
const ICH9_IDP_INDEX = 0x10; // index register; data at +4
const ICH9_IDP_INDEX_LOG2 = 4;
const AHCI_MEM_BAR_SIZE = 0x1000;
const ICH9_MSI_CAP_OFFSET = 0x80;
const ICH9_SATA_CAP_OFFSET = 0xa8;
const PCI_CAP_ID_SATA = 0x12;
const SATA_CAP_SIZE = 8;
const AHCI_ADDRESS_MAP = 0x90;
const AHCI_ADDRESS_MAP_AHCI = 0x40; // AHCI mode

// Generic host control (AHCI 1.3, 3.1): CAP, GHC, IS, PI, VS.
const HOST_CAP = 0x00;
const HOST_CTL = 0x04;
const HOST_IRQ_STAT = 0x08;
const HOST_PORTS_IMPL = 0x0c;
const HOST_VERSION = 0x10;
const HOST_CTL_RESET = 1 << 0;
const HOST_CTL_AHCI_EN = 0x80000000;
const AHCI_PORTS = 6;
/** QEMU's ahci_reg_init: 6 ports, 32 command slots, Gen1 speed, NCQ, AHCI only, 64-bit DMA. */
const AHCI_CAP = ((AHCI_PORTS - 1) | (31 << 8) | (1 << 20) | (1 << 30) | (1 << 18) | 0x80000000) >>> 0;
const AHCI_VERSION_1_0 = 0x10000;

/** The host registers machbus keeps: global host control, interrupt status, and the IDP index. */
interface AhciHostRegisters {
  ghc: number;
  irqStatus: number;
  /** The index/data pair's index register (BAR 4): an offset into the AHCI registers. */
  idpIndex: number;
}

const AHCI_STATE = describeState<AhciHostRegisters>({ name: "ahci", version: 1, fields: [u32("ghc"), u32("irqStatus"), u32("idpIndex")] });

/**
 * Intel ICH9 SATA controller in AHCI mode at 1f.2 of q35 (QEMU's "ich9-ahci", 8086:2922 rev 2,
 * class 0x0106 prog-if 1, INTA): the index/data pair in I/O BAR 4, the AHCI registers (ABAR) in
 * 32-bit memory BAR 5, capabilities added as QEMU does (SATA at 0xa8, then MSI at 0x80, which
 * heads the list), address map register 0x90 in AHCI mode. Modelled registers: the generic host
 * control block (CAP, GHC with reset, IS, PI, VS); the six ports have no drives and read 0.
 */
@pciDriver({
  name: "ich9-ahci",
  description: "ICH9 AHCI SATA controller",
  category: "storage",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
})
export class Ich9Ahci extends PciDevice {
  private readonly host: AhciHostRegisters = { ghc: HOST_CTL_AHCI_EN, irqStatus: 0, idpIndex: 0 };

  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x8086, deviceId: 0x2922, revision: 0x02, classCode: 0x0106, progIf: 0x01, interruptPin: 1 }, props);
    const s = this.config;
    s.set8(AHCI_ADDRESS_MAP, AHCI_ADDRESS_MAP_AHCI);
    this.defineBar(ICH9_IDP_BAR, {
      kind: "io",
      size: ICH9_IDP_SIZE,
      name: "ahci-idp",
      ops: {
        read: (offset, size) => {
          if (offset === ICH9_IDP_INDEX) return this.host.idpIndex;
          return offset === ICH9_IDP_INDEX + 4 ? this.readMem(this.host.idpIndex, size) : 0;
        },
        write: (offset, size, value) => {
          if (offset === ICH9_IDP_INDEX) this.host.idpIndex = value & (AHCI_MEM_BAR_SIZE - 1) & ~3;
          else if (offset === ICH9_IDP_INDEX + 4) this.writeMem(this.host.idpIndex, size, value);
        },
      },
    });
    this.defineBar(ICH9_MEM_BAR, {
      kind: "mem32",
      size: AHCI_MEM_BAR_SIZE,
      name: "ahci",
      ops: { read: (offset, size) => this.readMem(offset, size), write: (offset, size, value) => this.writeMem(offset, size, value) },
    });
    const sata = this.capabilities.add(PCI_CAP_ID_SATA, SATA_CAP_SIZE, ICH9_SATA_CAP_OFFSET);
    s.set16(sata + 2, 0x10); // revision 1.0
    s.set32(sata + 4, (ICH9_IDP_BAR + 4) | (ICH9_IDP_INDEX_LOG2 << 4)); // BAR location and index offset of the IDP
    new Msi(this, { vectors: 1, is64bit: true, perVectorMask: false, offset: ICH9_MSI_CAP_OFFSET });
    this.function.keepState(AHCI_STATE, this.host);
  }

  /** QEMU's ahci_reset (host part). */
  protected override resetRegisters(): void {
    this.host.ghc = HOST_CTL_AHCI_EN;
    this.host.irqStatus = 0;
    this.host.idpIndex = 0;
  }

  /** QEMU's ahci_mem_read: a dword register, narrower reads take their bytes of it. */
  private readMem(offset: number, size: number): number {
    const dword = this.register(offset & ~3);
    const shift = 8 * (offset & 3);
    return size === 4 && shift === 0 ? dword : (dword >>> shift) & ((1 << (8 * size)) - 1);
  }

  private register(offset: number): number {
    switch (offset) {
      case HOST_CAP:
        return AHCI_CAP;
      case HOST_CTL:
        return this.host.ghc >>> 0;
      case HOST_IRQ_STAT:
        return this.host.irqStatus;
      case HOST_PORTS_IMPL:
        return (1 << AHCI_PORTS) - 1;
      case HOST_VERSION:
        return AHCI_VERSION_1_0;
      default:
        return 0;
    }
  }

  /** QEMU's ahci_mem_write: misaligned writes are dropped. */
  private writeMem(offset: number, _size: number, value: number): void {
    if (offset & 3) return;
    if (offset === HOST_CTL) {
      if (value & HOST_CTL_RESET) this.resetRegisters();
      else this.host.ghc = ((value & 0x3) | HOST_CTL_AHCI_EN) >>> 0;
    } else if (offset === HOST_IRQ_STAT) this.host.irqStatus &= ~value;
  }
}
