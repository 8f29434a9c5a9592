import { inject } from "tsyringe";
import { Msi, pciDriver, PciDevice, prop, registerFile, types, type DeviceProps } from "../../src/index.js";
import { DEVICE_PROPS } from "../../src/machine/tokens.js";

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
