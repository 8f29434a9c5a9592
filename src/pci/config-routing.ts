import type { PciBus } from "./bus.js";
import { HOST_LITTLE_ENDIAN, type ConfigArena } from "./config-arena.js";
import { PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_BUS_RESET, PCI_SECONDARY_BUS, PCI_SUBORDINATE_BUS } from "./constants.js";
import type { PciFunction } from "./function.js";

/** Indexed by bus number << 8 | devfn. */
const KEYS = 0x10000;

/**
 * Which function a config cycle for (bus number, devfn) reaches: the one owner of config-cycle
 * routing, for the root bus and every bus behind it. It reads the buses' devfn tables and the
 * bridges' bus-number registers; whoever changes one of those calls `invalidate()`, and the
 * routes are rebuilt once, on the next config cycle that needs them.
 *
 * For the host's fast path it keeps one plain table per (bus number << 8 | devfn), `arenaDword`.
 * Every other cycle asks `functionAt`.
 */
export class ConfigRouting {
  /**
   * Per key, where aligned dword reads may come straight from the config arena (a function
   * answers there, has no armed read hook, and the host is little endian): the index of its
   * config dword 0 in `arena.dwords`; else -1. All -1 while stale. One table, so the fast path
   * costs one load and one bounds check.
   */
  readonly arenaDword = new Int32Array(KEYS).fill(-1);
  /** Per bus number, the bus config cycles for it reach. */
  private readonly buses: (PciBus | null)[] = new Array<PciBus | null>(256).fill(null);
  private stale = true;

  constructor(
    private readonly root: PciBus,
    private readonly arena: ConfigArena,
  ) {}

  /** Something routing depends on changed: functions came or went, bus numbers, bus-reset bits, read hooks. */
  invalidate(): void {
    if (this.stale) return;
    this.stale = true;
    this.arenaDword.fill(-1);
  }

  /** The bus config cycles for `busNumber` reach, or null. */
  busAt(busNumber: number): PciBus | null {
    if (this.stale) this.rebuild();
    return this.buses[busNumber & 0xff]!;
  }

  /** The function a config cycle for (busNumber, devfn) reaches, or undefined (the cycle reads all ones). */
  functionAt(busNumber: number, devfn: number): PciFunction | undefined {
    const fn = this.busAt(busNumber)?.functions[devfn & 0xff];
    return fn !== undefined && answersConfigCycles(fn) ? fn : undefined;
  }

  private rebuild(): void {
    const { buses, arenaDword, arena } = this;
    for (let n = 0; n < 256; n++) {
      const bus = findBusNumber(this.root, n);
      buses[n] = bus;
      if (!bus) continue;
      for (const fn of bus) {
        if (!answersConfigCycles(fn)) continue;
        if (!HOST_LITTLE_ENDIAN || fn.readHookDwords !== null) continue;
        const key = (n << 8) | fn.devfn;
        arenaDword[key] = arena.offsetOf(fn.space) >> 2;
      }
    }
    this.stale = false;
  }
}

/**
 * QEMU's rule (pci_host_config_read_common and _write_common): a function hot-plugged while its
 * slot has no function 0 neither answers nor takes config cycles until function 0 arrives; one
 * present at start-up answers whatever the slot holds. An unpowered function (a PCIe slot's power
 * controller off, pci_set_power) answers nothing.
 */
function answersConfigCycles(fn: PciFunction): boolean {
  if (!fn.powered) return false;
  return !fn.hotplugged || (fn.devfn & 7) === 0 || fn.bus?.get(fn.devfn & ~7) !== undefined;
}

/** Whether a config cycle for bus `n` goes through `bridge` (QEMU's pci_secondary_bus_in_range). */
function bridgeClaims(bridge: PciFunction, n: number): boolean {
  const c = bridge.space.config;
  return !(c[PCI_BRIDGE_CONTROL]! & PCI_BRIDGE_CTL_BUS_RESET) && c[PCI_SECONDARY_BUS]! <= n && n <= c[PCI_SUBORDINATE_BUS]!;
}

/** QEMU's pci_find_bus_nr, from the root: at each level the first child bus whose range holds `n`. */
function findBusNumber(root: PciBus, n: number): PciBus | null {
  if (root.number === n) return root;
  let bus: PciBus | null = root;
  while (bus) {
    let next: PciBus | null = null;
    for (const child of bus.children) {
      if (child.number === n) return child;
      if (bridgeClaims(child.parentBridge!, n)) {
        next = child;
        break;
      }
    }
    bus = next;
  }
  return null;
}
