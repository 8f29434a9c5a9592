import { inject } from "tsyringe";
import {
  describeState,
  MachbusError,
  Msi,
  pciDriver,
  PciBridgeDevice,
  PciDevice,
  prop,
  registerFile,
  types,
  u32Array,
  type DeviceProps,
  type PciBus,
} from "../../src/index.js";
import { DEVICE_PROPS, PLUG_BUS } from "../../src/machine/tokens.js";
import { endpointCapability, PCIE_TYPE, PcieCapability, PcieSlot } from "../../src/pci/pcie.js";
import { acsInit, acsReset, aerInit, aerRootInit, aerRootReset, serialNumberInit } from "../../src/pci/pcie-extcaps.js";

const barProps = {
  express: prop(types.bool, false, "4096-byte config space"),
  msi: prop(types.bool, false, "add a 64-bit maskable MSI capability"),
  revision: prop(types.uint8, 0, "revision id"),
};

/**
 * A device with one BAR of every kind, used where the catalogue has no device with the exact
 * shape a test needs: I/O 64 B (BAR0), 32-bit memory 4 KiB (BAR1), 64-bit prefetchable
 * memory 1 MiB (BAR2-3), 32-bit prefetchable 16 B (BAR4), ROM 64 KiB.
 */
@pciDriver({ name: "test-bars", description: "BAR test device", category: "misc", properties: barProps })
export class BarTestDevice extends PciDevice {
  readonly mmio = registerFile(4096);
  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof barProps>) {
    super(
      { vendorId: 0x1234, deviceId: 0x11ff, classCode: 0x00ff, interruptPin: 1, express: props.express, revision: props.revision },
      props,
    );
    if (props.msi) new Msi(this, { vectors: 4, is64bit: true, perVectorMask: true });
    this.defineBar(0, { kind: "io", size: 64, name: "test-io", ops: registerFile(64) });
    this.defineBar(1, { kind: "mem32", size: 4096, name: "test-mmio", ops: this.mmio });
    this.defineBar(2, { kind: "mem64", size: 1 << 20, prefetchable: true, name: "test-mem64", ops: registerFile(16) });
    this.defineBar(4, { kind: "mem32", size: 16, prefetchable: true, name: "test-pref32", ops: registerFile(16) });
    this.defineBar(6, { kind: "rom", size: 65536, name: "test.rom", ops: registerFile(16) });
  }
}

/** Mode values a host cannot resume: refused by the state's load step, and by the re-derivation after it. */
export const REFUSED_WHILE_LOADING = 0xdead0001;
export const REFUSED_AFTER_LOADING = 0xdead0002;

interface StateRegisters {
  readonly words: Uint32Array;
  /** Called just before the device refuses its state (tests look at the machine then). */
  failing: (() => void) | null;
}

/** 16 plain registers; word 0 is a mode a host may be unable to resume (as a backend refuses state in QEMU's post_load). */
const TEST_STATE = describeState<StateRegisters>({
  name: "test-state",
  version: 1,
  fields: [u32Array("words")],
  loaded(r) {
    if (r.words[0] !== REFUSED_WHILE_LOADING) return;
    r.failing?.();
    throw new MachbusError("state-invalid", "test-state: this host cannot resume mode 0xdead0001");
  },
});

/**
 * A device whose registers (memory BAR 0, 16 dwords) are described state that passes every check
 * but that a host may fail to resume once it is applied: how the tests make a snapshot load fail
 * after other devices' state went in.
 */
@pciDriver({ name: "test-state", description: "state test device", category: "misc", properties: {} })
export class StateTestDevice extends PciDevice {
  readonly registers: StateRegisters = { words: new Uint32Array(16), failing: null };
  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x1234, deviceId: 0x11fe, classCode: 0x00ff, interruptPin: 1 }, props);
    const words = this.registers.words;
    this.defineBar(0, {
      kind: "mem32",
      size: 64,
      name: "test-state-regs",
      ops: { read: (offset) => words[offset >> 2]!, write: (offset, _size, value) => (words[offset >> 2] = value >>> 0) },
      regionOptions: { implMin: 4, implMax: 4 },
    });
    this.function.keepState(TEST_STATE, this.registers);
  }

  override stateLoaded(): void {
    if (this.registers.words[0] === REFUSED_AFTER_LOADING) {
      this.registers.failing?.();
      throw new MachbusError("state-invalid", "test-state: this host cannot resume mode 0xdead0002");
    }
  }
}

/**
 * A PCI Express endpoint with e1000e's PCI Express layout and nothing else: capability version 1
 * at 0xe0, AER at 0x100 (no header log), a serial number at 0x140 (inside the AER, as on QEMU). Its capability bytes can be
 * compared with QEMU's e1000e's.
 */
@pciDriver({ name: "test-pcie-endpoint", description: "PCI Express endpoint test device", category: "misc", properties: {} })
export class PcieEndpointTestDevice extends PciDevice {
  readonly cap: PcieCapability;
  constructor(@inject(DEVICE_PROPS) props: DeviceProps, @inject(PLUG_BUS) bus: PciBus) {
    super({ vendorId: 0x1234, deviceId: 0x11fe, classCode: 0x00ff, interruptPin: 1, express: true }, props);
    this.cap = endpointCapability(this, bus, { offset: 0xe0, version: 1 });
    aerInit(this, this.cap, { offset: 0x100, logMax: 0 });
    serialNumberInit(this, 0x140, 0x0123456789abcdefn, { allowOverlap: true });
  }
}

/**
 * A root port with QEMU's pcie-root-port PCI Express layout (capability version 2 at 0x54 with
 * slot 0, 16 GT/s x32, AER at 0x100 with header log, ACS at 0x148) and none of its other
 * capabilities: its capability bytes can be compared with QEMU's pcie-root-port's.
 */
@pciDriver({ name: "test-root-port", description: "PCI Express root port test device", category: "bridge", properties: {} })
export class RootPortTestDevice extends PciBridgeDevice {
  readonly cap: PcieCapability;
  readonly slot: PcieSlot;
  private readonly aer: number;
  private readonly acs: number;

  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x1b36, deviceId: 0x000c, classCode: 0x0604, express: true, interruptPin: 1 }, props);
    // QEMU's pcie_port_init_reg: no 66 MHz or fast back-to-back on PCI Express.
    this.config.set16(0x06, 0);
    this.config.set16(0x1e, 0);
    this.config.wmask[0x3e] = this.config.wmask[0x3e]! & ~0xa0;
    this.config.wmask[0x3f] = this.config.wmask[0x3f]! & ~0x0f;
    this.cap = new PcieCapability(this, { offset: 0x54, type: PCIE_TYPE.rootPort, version: 2, slotLink: { speed: 4, width: 32 } });
    this.cap.syncLinkOnRead(() => (this.hasSecondaryBus ? this.secondaryBus : null));
    this.cap.arifwdInit();
    this.cap.deverrInit();
    this.slot = new PcieSlot(this.cap, {
      slot: 0,
      hotplug: true,
      nativeHotplug: true,
      powerController: true,
      notify: (level) => this.function.setIrq(level),
      clearIntx: () => this.function.setIrq(false),
      setPower: (on) => {
        if (!this.hasSecondaryBus) return;
        for (const fn of [...this.secondaryBus]) this.secondaryBus.setPower(fn, on);
      },
      unplugAll: () => {},
      populated: () => this.hasSecondaryBus && this.secondaryBus.get(0) !== undefined,
    });
    this.cap.rootInit();
    this.aer = aerInit(this, this.cap, { offset: 0x100, logMax: 8 });
    aerRootInit(this, this.aer, () => false); // no MSI-X here: INTx
    this.acs = acsInit(this, this.cap, 0x148);
  }

  /** QEMU's rp_reset_hold. */
  protected override resetRegisters(): void {
    this.cap.rootReset();
    this.cap.deverrReset();
    this.slot.reset();
    this.cap.arifwdReset();
    acsReset(this, this.acs);
    aerRootReset(this, this.aer);
  }
}
