/**
 * A worked example (docs/allocation-policies.md; test/allocation-policies.test.ts runs it): a
 * slot-allocation policy of our own, plugged in through DI without touching machbus. It keeps
 * bands of slots for classes of devices, by the PCI base class the device reports: NICs in one
 * band, storage in another, everything else outside both.
 *
 *   Machine.create({ allocator: "class-bands,network=10-17", policies: [ClassBandsPolicy], devices: [...] })
 *   npx machbus run my-machine.ts slots    (a script whose definition has policies: [ClassBandsPolicy])
 */
// In your own project: from "machbus".
import {
  ALLOCATOR_PARAMS,
  allocationPolicy,
  freeSlots,
  inject,
  noSlotError,
  prop,
  type PolicyParams,
  type PropertyType,
  type SlotAllocator,
  type SlotRequest,
} from "../../src/index.js";

/** A parameter type of our own: a slot range "LO-HI" in hex, or "none". */
const slotRange: PropertyType<readonly [number, number] | null> = {
  name: "slots",
  parse(text) {
    if (text === "none") return { value: null };
    const m = /^([0-9a-f]{1,2})-([0-9a-f]{1,2})$/i.exec(text);
    const lo = m ? parseInt(m[1]!, 16) : NaN;
    const hi = m ? parseInt(m[2]!, 16) : NaN;
    if (!(lo <= hi && hi <= 0x1f)) return { error: "a slot range LO-HI in hex, e.g. 10-17, or none" };
    return { value: [lo, hi] };
  },
  format: (v) => (v ? `${v[0].toString(16)}-${v[1].toString(16)}` : "none"),
};

const bandParams = {
  network: prop(slotRange, [0x10, 0x17] as const, "slots for network controllers (PCI class 02)"),
  storage: prop(slotRange, [0x18, 0x1f] as const, "slots for storage controllers (PCI class 01)"),
};

/** PCI base classes, as the device reports them at config offset 0x0b. */
const BASE_CLASS = 0x0b;
const NETWORK = 0x02;
const STORAGE = 0x01;

@allocationPolicy({ name: "class-bands", description: "network and storage controllers in slot bands of their own", params: bandParams })
export class ClassBandsPolicy implements SlotAllocator {
  readonly name = "class-bands";

  // The machine's container builds the policy and hands it its parameters, parsed and checked.
  constructor(@inject(ALLOCATOR_PARAMS) private readonly bands: PolicyParams<typeof bandParams>) {}

  allocate({ bus, driver, function: fn }: SlotRequest): number {
    const baseClass = fn.space.config[BASE_CLASS];
    const band = baseClass === NETWORK ? this.bands.network : baseClass === STORAGE ? this.bands.storage : null;
    const inBand = (slot: number, b: readonly [number, number] | null): boolean => b !== null && slot >= b[0] && slot <= b[1];
    // Devices of a banded class take their band; the rest stay out of every band.
    const slot = freeSlots(bus, driver).find((s) =>
      band ? inBand(s, band) : !inBand(s, this.bands.network) && !inBand(s, this.bands.storage),
    );
    if (slot === undefined) throw noSlotError(driver, `class-bands: its band is full`);
    // The engine checks what we return (slot exists, free, allowed by the board) and names us if it is wrong.
    return slot << 3;
  }
}
