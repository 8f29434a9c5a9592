import { registerFile, registerFileState } from "../memory/register-file.js";
import { PCI_CAP_ID_SHPC } from "./constants.js";
import type { PciDevice } from "./device.js";

const SHPC_CAP_LENGTH = 8;
const SHPC_CAP_DWORD_SELECT = 2;
const SHPC_CAP_DWORD_DATA = 4;
/** The SHPC register block (QEMU's shpc_bar_size for 31 slots, rounded to a power of two). */
export const SHPC_BAR_SIZE = 256;
const SHPC_STATE = registerFileState("shpc");

/**
 * A bridge's standard hot-plug controller (QEMU's shpc.c, shpc_init): the capability with its dword
 * window onto the SHPC registers, which `barIndex` also maps as a 64-bit memory BAR (registered
 * by `defineBar`, when the bridge's model says, as QEMU's bridges register it after their other
 * capabilities). The registers are plain storage; hotplug itself goes through the machine.
 */
export class Shpc {
  /** SHPC working registers, reachable through the BAR and the capability's dword window. */
  readonly registers = registerFile(SHPC_BAR_SIZE);
  private readonly cap: number;

  constructor(private readonly device: PciDevice) {
    const c = device.config;
    this.cap = device.capabilities.add(PCI_CAP_ID_SHPC, SHPC_CAP_LENGTH);
    c.wmask[this.cap + SHPC_CAP_DWORD_SELECT] = 0xff;
    c.wmask.fill(0xff, this.cap + SHPC_CAP_DWORD_DATA, this.cap + SHPC_CAP_DWORD_DATA + 4);
    device.function.onConfigWrite(this.cap, SHPC_CAP_LENGTH, () => this.windowWritten());
    device.function.keepState(SHPC_STATE, this.registers);
  }

  /** The capability's dword window: data written goes to the selected SHPC register, then reads it back. */
  private windowWritten(): void {
    const c = this.device.config;
    const reg = c.get8(this.cap + SHPC_CAP_DWORD_SELECT) * 4;
    if (reg + 4 > SHPC_BAR_SIZE) return;
    c.set32(this.cap + SHPC_CAP_DWORD_DATA, this.registers.read(reg, 4));
  }
}
