import type { PciDevice } from "../pci/device.js";
import { describeState, u32, u32Array, u8, u8Array, type KeptState } from "./description.js";

/**
 * A PCI function's own state as the snapshot sees it: the capability ids present, the config
 * bytes and the INTx levels. The capability mask is derived from the config bytes (loading it
 * changes nothing); INTx levels are the function's.
 */
class PciFunctionState {
  private levels: Uint32Array | null = null;

  constructor(readonly device: PciDevice) {}

  get capPresent(): number {
    return this.device.capabilities.presentMask();
  }
  set capPresent(_: number) {}

  get config(): Uint8Array {
    return this.device.function.space.config;
  }

  get irqState(): number {
    return this.device.function.irqState;
  }
  set irqState(levels: number) {
    this.device.function.irqState = levels;
  }

  /** Version 2's four 32-bit levels, turned into `irqState` once loaded. */
  get irqLevels(): Uint32Array {
    return (this.levels ??= new Uint32Array(4));
  }
}

/**
 * Version 2 is the seed thread's layout (256 config bytes, four u32 INTx levels); version 3 puts
 * `cap_present` first, so that a capability the target lacks is the first and clearest refusal.
 */
const PCI_FUNCTION_STATE = describeState<PciFunctionState>({
  name: "pci",
  version: 3,
  minimumVersion: 2,
  fields: [
    u32("capPresent", { since: 3, check: capabilitiesSupported }),
    u8Array("config", { since: 3, check: configMatches }),
    u8Array("config", { until: 2, count: 256, check: configMatches }),
    u32Array("irqLevels", { until: 2, count: 4, check: (levels) => levelsProblem(levels) }),
    u8("irqState", {
      since: 3,
      check: (levels) => (levels > 0xf ? `INTx levels 0x${levels.toString(16)} name pins beyond INTD` : null),
    }),
  ],
  loaded(s, version) {
    if (version < 3) s.irqState = s.irqLevels.reduce((bits, level, pin) => bits | (level << pin), 0);
  },
});

const kept = new WeakMap<PciDevice, KeptState>();

/** The function's own state, first in its section; the function's `states` follow. */
export function pciFunctionState(device: PciDevice): KeptState {
  let k = kept.get(device);
  if (!k) kept.set(device, (k = { description: PCI_FUNCTION_STATE, target: new PciFunctionState(device) }));
  return k;
}

function capabilitiesSupported(present: number, s: PciFunctionState): string | null {
  const supported = s.capPresent;
  const extra = present & ~supported;
  if (!extra) return null;
  return `capabilities ${idsOf(extra)} are present in the stream but ${s.device.function.label} does not support them (it has ${idsOf(supported) || "none"})`;
}

function levelsProblem(levels: ArrayLike<number>): string | null {
  for (let pin = 0; pin < levels.length; pin++) if (levels[pin]! > 1) return `irq state ${levels[pin]}: must be 0 or 1.`;
  return null;
}

/**
 * QEMU's get_pci_config_device: read-only bits the device checks must match. The masks cover
 * the capability pointer and every capability byte a guest cannot write (ids, next pointers), so
 * a stream that passes has this device's own capability list: loading moves no capability, and
 * masks and reservations stay as the device laid them out.
 */
function configMatches(config: ArrayLike<number>, s: PciFunctionState): string | null {
  const space = s.device.function.space;
  const { cmask, wmask, w1cmask } = space;
  const current = space.config;
  for (let i = 0; i < space.size; i++) {
    const differ = config[i]! ^ current[i]!;
    if (differ === 0 || (differ & cmask[i]! & ~wmask[i]! & ~w1cmask[i]!) === 0) continue;
    return (
      `${s.device.function.label}${registerName(i)}: Bad config data: i=0x${i.toString(16)} read: ${config[i]!.toString(16)} ` +
      `device: ${current[i]!.toString(16)} cmask: ${cmask[i]!.toString(16)} wmask: ${wmask[i]!.toString(16)} w1cmask:${w1cmask[i]!.toString(16)}`
    );
  }
  return null;
}

const REGISTER_NAMES: Record<number, string> = {
  0x00: "vendor id",
  0x01: "vendor id",
  0x02: "device id",
  0x03: "device id",
  0x06: "status",
  0x08: "revision",
  0x09: "programming interface",
  0x0a: "class",
  0x0b: "class",
  0x0e: "header type",
  0x34: "capability pointer",
};

function registerName(offset: number): string {
  const name = REGISTER_NAMES[offset];
  return name ? ` ${name}` : offset >= 0x10 && offset < 0x28 ? " BAR type bits" : "";
}

function idsOf(mask: number): string {
  const ids: string[] = [];
  for (let id = 0; id < 32; id++) if (mask & (1 << id)) ids.push(`0x${id.toString(16).padStart(2, "0")}`);
  return ids.join(", ");
}
