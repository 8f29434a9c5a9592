/** QEMU's default MAC prefix: 52:54:00:12:34:xx, xx from 0x56 up. */
const BASE = [0x52, 0x54, 0x00, 0x12, 0x34] as const;
const FIRST = 0x56;

/**
 * The machine's MAC addresses (QEMU's qemu_macaddr_default_if_unset): a NIC without `mac=` gets
 * 52:54:00:12:34:56, the next one :57, and so on, skipping addresses other NICs of the machine
 * were given explicitly. One per machine, shared by every NIC model through DI (MAC_ADDRESSES).
 */
export class MacAddresses {
  private readonly used = new Set<number>();

  /** The address a NIC uses: `given` (text, may be empty for "pick one"), recorded as in use. */
  claim(given: string): number[] {
    if (given && given !== "00:00:00:00:00:00") {
      const mac = given.split(":").map((h) => parseInt(h, 16));
      if (BASE.every((b, i) => mac[i] === b)) this.used.add(mac[5]!);
      return mac;
    }
    let last = FIRST;
    while (last < 0xff && this.used.has(last)) last++;
    this.used.add(last);
    return [...BASE, last];
  }

  /** Frees an address again (the NIC was unplugged). */
  release(mac: readonly number[]): void {
    if (BASE.every((b, i) => mac[i] === b)) this.used.delete(mac[5]!);
  }
}

/** "52:54:00:12:34:56" */
export function formatMac(mac: readonly number[]): string {
  return mac.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
