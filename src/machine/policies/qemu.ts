import { allocationPolicy } from "../allocation-policy.js";
import { FirstFitAllocator } from "../allocator.js";

/** QEMU's own placement (pci_bus_devfn_available): the same addresses as QEMU for the same command line. */
@allocationPolicy({ name: "qemu", description: "QEMU's first fit: the first free slot the board allows, as QEMU places", params: {} })
export class QemuPolicy extends FirstFitAllocator {}
