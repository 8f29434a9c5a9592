import { inject } from "tsyringe";
import { allocationPolicy, type PolicyParams } from "../allocation-policy.js";
import { freeSlots, noSlotError, type SlotAllocator, type SlotRequest } from "../allocator.js";
import { prop, types } from "../properties.js";
import { mulberry32 } from "../prng.js";
import { ALLOCATOR_PARAMS } from "../tokens.js";

const policyParams = {
  seed: prop(types.uint32, 0, "seed of the slot choices: the same seed and devices give the same addresses"),
};

/** A uniformly random free slot: the baseline an experiment compares real policies with. */
@allocationPolicy({ name: "random", description: "a random free slot, reproducible from its seed (random,seed=N)", params: policyParams })
export class RandomPolicy implements SlotAllocator {
  readonly name = "random";
  private readonly next: () => number;

  constructor(@inject(ALLOCATOR_PARAMS) params: PolicyParams<typeof policyParams>) {
    this.next = mulberry32(params.seed);
  }

  allocate({ bus, driver }: SlotRequest): number {
    const free = freeSlots(bus, driver);
    if (free.length === 0) throw noSlotError(driver);
    return free[Math.floor(this.next() * free.length)]! << 3;
  }
}
