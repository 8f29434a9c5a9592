import { hostLink, prop, types } from "./properties.js";

/** QEMU's default MAC prefix: 52:54:00:12:34:xx, xx from 0x56 up. */
const BASE = [0x52, 0x54, 0x00, 0x12, 0x34] as const;
const FIRST = 0x56;
const LAST = 0xfe;

/**
 * The machine's MAC addresses (QEMU's qemu_macaddr_default_if_unset): a NIC without `mac=` gets
 * 52:54:00:12:34:56, the next one :57, and so on, skipping addresses other NICs of the machine
 * use. One per machine, shared by every NIC model through DI (MAC_ADDRESSES). As in QEMU, each
 * default-range address (last byte 0x56-0xfe) counts its users: two NICs given the same one keep
 * it taken until both are gone.
 */
export class MacAddresses {
  private readonly users = new Map<number, number>();

  /**
   * The address a NIC with these properties uses: its `mac`, or the next free default, which is
   * written back into `mac` (QEMU's info qtree shows the address the NIC got). Recorded as in use.
   */
  claimFor(props: { mac: string }): number[] {
    const given = props.mac;
    if (given && given !== "00:00:00:00:00:00") {
      const mac = given.split(":").map((h) => parseInt(h, 16));
      this.count(mac, 1);
      return mac;
    }
    let last = FIRST;
    while (last < LAST && this.users.has(last)) last++;
    const mac = [...BASE, last];
    this.count(mac, 1);
    props.mac = formatMac(mac);
    return mac;
  }

  /** The NIC using `mac` was unplugged. */
  release(mac: readonly number[]): void {
    this.count(mac, -1);
  }

  private count(mac: readonly number[], delta: number): void {
    const last = mac[5]!;
    if (!BASE.every((b, i) => mac[i] === b) || last < FIRST || last > LAST) return;
    const n = (this.users.get(last) ?? 0) + delta;
    if (n > 0) this.users.set(last, n);
    else this.users.delete(last);
  }
}

/**
 * One NIC's MAC address over its life, the same for every NIC model: claimed from the machine's
 * MacAddresses when the NIC is plugged (QEMU's realize; a default is written back into the NIC's
 * `mac` property, so info qtree and dump-config show it), given back when it is unplugged.
 */
export class NicMac {
  private claimed: readonly number[] = [];

  constructor(
    private readonly macs: MacAddresses,
    private readonly props: { mac: string },
  ) {}

  /** At plug: the NIC's `mac=`, or the next free default. */
  claim(): readonly number[] {
    this.claimed = this.macs.claimFor(this.props);
    return this.claimed;
  }

  /** At unplug. */
  release(): void {
    this.macs.release(this.claimed);
    this.claimed = [];
  }

  /** The six bytes claimed (empty while the NIC is not plugged). */
  get bytes(): readonly number[] {
    return this.claimed;
  }

  toString(): string {
    return formatMac(this.claimed);
  }
}

/** "52:54:00:12:34:56" */
export function formatMac(mac: readonly number[]): string {
  return mac.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** QEMU's DEFINE_NIC_PROPERTIES: the MAC and the backend, first in every NIC's property list. */
export const nicProperties = {
  mac: prop(types.macaddr, "", "MAC address; default 52:54:00:12:34:56, then :57, ... for each NIC without one"),
  netdev: prop(hostLink("netdev"), "", "ID of a netdev to use as a backend (no effect: no frames are emulated)"),
};
