import { inject } from "tsyringe";
import { allocationPolicy, type PolicyParams } from "../allocation-policy.js";
import { freeSlots, noSlotError, type SlotAllocator, type SlotRequest } from "../allocator.js";
import { prop, types } from "../properties.js";
import { ALLOCATOR_PARAMS } from "../tokens.js";

const policyParams = {
  seed: prop(types.uint32, 0, "seed of the slot choices: the same seed and devices give the same addresses"),
};

/** A uniformly random free slot: the baseline an experiment compares real policies with. */
@allocationPolicy({ name: "random", description: "a random free slot, reproducible from its seed (random,seed=N)", params: policyParams })
export class RandomPolicy implements SlotAllocator {
  readonly name = "random";
  private state: number;

  constructor(@inject(ALLOCATOR_PARAMS) params: PolicyParams<typeof policyParams>) {
    this.state = params.seed >>> 0;
  }

  allocate({ bus, driver }: SlotRequest): number {
    const free = freeSlots(bus, driver);
    if (free.length === 0) throw noSlotError(driver);
    return free[Math.floor(this.next() * free.length)]! << 3;
  }

  /** mulberry32: small, fast, and the same sequence on every engine. */
  private next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }
}
