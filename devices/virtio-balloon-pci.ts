import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import { objectLink, prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, PLUG_BUS, RAM_SIZE } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import type { DeviceProps } from "../src/pci/device.js";
import { VIRTIO_ID_BALLOON, bit, hasBit } from "../src/virtio/constants.js";
import { readOnlyProperty, virtioDeviceProperties, virtioPciProperties, virtioQtree } from "../src/virtio/properties.js";
import { VirtioPciDevice } from "../src/virtio/transport.js";
import { describeState, u32 } from "../src/state/description.js";

/** VIRTIO_BALLOON_F_* feature bits. */
const F = { STATS_VQ: 1, DEFLATE_ON_OOM: 2, FREE_PAGE_HINT: 3, PAGE_POISON: 4, REPORTING: 5 } as const;

/** struct virtio_balloon_config: num_pages, actual, free_page_hint_cmd_id, poison_val. */
const CFG_NUM_PAGES = 0;
const CFG_ACTUAL = 4;
const CFG_POISON_VAL = 12;
const CONFIG_SIZE_FULL = 16;
const CONFIG_SIZE_HINT = 12;
const CONFIG_SIZE_BASE = 8;

/** The configuration fields with state: the host's target and the guest's answers. */
interface BalloonConfig {
  /** Pages the host asks the guest to give back. */
  numPages: number;
  /** Pages the guest says it gave back. */
  actual: number;
  poisonVal: number;
}

const BALLOON_STATE = describeState<BalloonConfig>({
  name: "virtio-balloon",
  version: 1,
  fields: [u32("numPages"), u32("actual"), u32("poisonVal")],
});

const BALLOON_QUEUE_SIZE = 128;
const FREE_PAGE_QUEUE_SIZE = 1024;
const REPORTING_QUEUE_SIZE = 32;
const BALLOON_PAGE_SHIFT = 12;

const properties = {
  ...virtioPciProperties,
  ...virtioDeviceProperties,
  "virtio-backend": readOnlyProperty("child<virtio-balloon-device>", "the virtio-balloon-device inside the proxy"),
  "deflate-on-oom": prop(types.bool, false, "offers VIRTIO_BALLOON_F_DEFLATE_ON_OOM (feature bit 2)"),
  "free-page-hint": prop(types.bool, false, "offers VIRTIO_BALLOON_F_FREE_PAGE_HINT (feature bit 3) and a fourth queue; needs iothread"),
  "page-poison": prop(types.bool, true, "offers VIRTIO_BALLOON_F_PAGE_POISON (feature bit 4) and the config poison_val field"),
  "free-page-reporting": prop(types.bool, false, "offers VIRTIO_BALLOON_F_REPORTING (feature bit 5) and a reporting queue"),
  "qemu-4-0-config-size": prop(types.bool, false, "config space of 16 bytes whatever the features (as QEMU 4.0 had it)"),
  // A QOM property on QEMU: not in info qtree, no default in -device help.
  "guest-stats-polling-interval": prop(types.int, 0, "seconds between guest statistics requests (no effect on the guest view)", {
    inQtree: false,
  }),
  iothread: objectLink("iothread", "ID of an iothread object for free page hinting (no effect on the guest view)"),
  "guest-stats": readOnlyProperty("guest statistics", "the guest's last memory statistics"),
};

/**
 * virtio memory balloon on PCI (QEMU's "virtio-balloon-pci", 1af4:1002, class "other", no
 * MSI-X): the host's target (num_pages) and the guest's answer (actual) in the device
 * configuration. Registers only: no page is ever inflated or deflated.
 */
@pciDriver({
  name: "virtio-balloon-pci",
  description: "virtio memory balloon on PCI",
  category: "misc",
  properties,
  parents: ["virtio-balloon-pci-base", "virtio-pci", "virtio-balloon-device", "virtio-device"],
  qtree: virtioQtree([], "virtio-balloon-device", [
    "deflate-on-oom",
    "free-page-hint",
    "page-poison",
    "free-page-reporting",
    "qemu-4-0-config-size",
  ]),
})
export class VirtioBalloonPci extends VirtioPciDevice {
  private readonly balloon: BalloonConfig = { numPages: 0, actual: 0, poisonVal: 0 };

  constructor(
    @inject(PLUG_BUS) bus: PciBus,
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(RAM_SIZE) private readonly ramSize: number,
  ) {
    let own = bit(F.STATS_VQ);
    const flags: [boolean, number][] = [
      [props["deflate-on-oom"], F.DEFLATE_ON_OOM],
      [props["free-page-hint"], F.FREE_PAGE_HINT],
      [props["page-poison"], F.PAGE_POISON],
      [props["free-page-reporting"], F.REPORTING],
    ];
    for (const [on, n] of flags) if (on) own |= bit(n);
    if (props["guest-stats-polling-interval"] < 0) throw new MachbusError("bad-property-value", "timer value must be greater than zero");
    if (props["free-page-hint"] && !props.iothread)
      throw new MachbusError("bad-property-value", "'free-page-hint' requires 'iothread' to be set");
    const queueSizes = [BALLOON_QUEUE_SIZE, BALLOON_QUEUE_SIZE, BALLOON_QUEUE_SIZE];
    if (props["free-page-hint"]) queueSizes.push(FREE_PAGE_QUEUE_SIZE);
    if (props["free-page-reporting"]) queueSizes.push(REPORTING_QUEUE_SIZE);
    const configSize =
      props["qemu-4-0-config-size"] || hasBit(own, F.PAGE_POISON)
        ? CONFIG_SIZE_FULL
        : hasBit(own, F.FREE_PAGE_HINT)
          ? CONFIG_SIZE_HINT
          : CONFIG_SIZE_BASE;
    super(props, {
      bus,
      name: "virtio-balloon",
      virtioId: VIRTIO_ID_BALLOON,
      transitionalDeviceId: 0x1002,
      classCode: 0x00ff,
      vectors: 0,
      queueSizes,
      configSize,
      features: (offered) => offered | own,
    });
    this.function.keepState(BALLOON_STATE, this.balloon);
  }

  /** QEMU's balloon command: asks the guest to shrink to `bytes` of RAM (0 changes nothing). */
  setTarget(bytes: number): void {
    const target = Math.min(bytes, this.ramSize);
    if (!target) return;
    this.balloon.numPages = Math.floor((this.ramSize - target) / 2 ** BALLOON_PAGE_SHIFT);
    this.notifyConfig();
  }

  /** Guest RAM as the balloon leaves it: RAM minus what the guest gave back. */
  get actualBytes(): number {
    return this.ramSize - this.balloon.actual * 2 ** BALLOON_PAGE_SHIFT;
  }

  protected override fillConfig(config: Uint8Array): void {
    const all = new Uint8Array(CONFIG_SIZE_FULL);
    const v = new DataView(all.buffer);
    v.setUint32(CFG_NUM_PAGES, this.balloon.numPages, true);
    v.setUint32(CFG_ACTUAL, this.balloon.actual, true);
    v.setUint32(CFG_POISON_VAL, this.balloon.poisonVal, true);
    config.set(all.subarray(0, config.length));
  }

  /** The guest reports actual; poison_val counts only once PAGE_POISON is negotiated. */
  protected override configWritten(config: Uint8Array): void {
    const all = new Uint8Array(CONFIG_SIZE_FULL);
    all.set(config);
    const v = new DataView(all.buffer);
    this.balloon.actual = v.getUint32(CFG_ACTUAL, true);
    this.balloon.poisonVal = this.guestHas(F.PAGE_POISON) ? v.getUint32(CFG_POISON_VAL, true) : 0;
  }

  protected override resetDevice(): void {
    this.balloon.poisonVal = 0;
  }
}
