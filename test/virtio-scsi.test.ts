import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { VirtioScsiPci } from "../devices/virtio-scsi-pci.js";
import { labelled, labelledOne, replayMatchesQemu } from "./support/register-fixtures.js";

// Register facts come from QEMU 7.2 (test/fixtures/qemu/registers/virtio-scsi-*.json); each test
// replays a scenario on machbus and compares every read, then names what the scenario shows.

/** A little-endian field of the config bytes a scenario read one by one. */
const field = (bytes: number[], offset: number, size: number): number =>
  bytes.slice(offset, offset + size).reduceRight((v, b) => v * 256 + b, 0);

describe("virtio-scsi-pci", () => {
  it("offers hotplug and parameter-change events, three queues and QEMU's limits in its config", () => {
    const { qemu } = replayMatchesQemu("virtio-scsi-config");
    expect(labelledOne(qemu, "host features") & 0x6).toBe(0x6);
    expect(labelledOne(qemu, "num_queues")).toBe(3); // control, event, one request queue
    const config = labelled(qemu, "config");
    expect([field(config, 0, 4), field(config, 4, 4), field(config, 8, 4), field(config, 12, 4)]).toEqual([1, 254, 0xffff, 128]);
    expect([field(config, 16, 4), field(config, 20, 4), field(config, 24, 4)]).toEqual([16, 96, 32]);
    expect([field(config, 28, 2), field(config, 30, 2), field(config, 32, 4)]).toEqual([0, 255, 16383]);
  });

  it("the guest may set sense_size and cdb_size; values too large are refused and reset brings the defaults back", () => {
    const { qemu } = replayMatchesQemu("virtio-scsi-config");
    expect(labelledOne(qemu, "sense_size written")).toBe(0x40);
    expect(labelledOne(qemu, "sense_size after a bad write")).toBe(0x40);
    expect(labelledOne(qemu, "cdb_size after a bad write")).toBe(0x10);
    expect([labelledOne(qemu, "sense_size after reset"), labelledOne(qemu, "cdb_size after reset")]).toEqual([96, 32]);
  });

  it("takes its queue count, queue size, limits and offered features from its properties", () => {
    const { qemu } = replayMatchesQemu("virtio-scsi-options");
    expect(labelledOne(qemu, "host features") & 0x6).toBe(0);
    expect(labelled(qemu, "queue size")).toEqual([128, 128, 128, 128, 0]);
    const config = labelled(qemu, "config");
    expect([field(config, 0, 4), field(config, 4, 4), field(config, 8, 4), field(config, 12, 4)]).toEqual([2, 126, 1024, 32]);
  });

  it("on pc-i440fx-1.4: QEMU 4.0's 128-entry queues, seg_max 126, no ANY_LAYOUT", () => {
    const { qemu } = replayMatchesQemu("virtio-scsi@pc-i440fx-1.4");
    expect(labelledOne(qemu, "queue size")).toBe(128);
    expect(labelledOne(qemu, "host features") & (1 << 27)).toBe(0);
    expect(field(labelled(qemu, "config"), 4, 4)).toBe(126);
  });

  it("keeps the guest's sense_size and cdb_size in a snapshot", () => {
    const m = Machine.create({ devices: ["virtio-scsi-pci,id=v,addr=2"] });
    m.configWrite(0, 2 << 3, 0x20, 4, 0xfe00000c);
    m.configWrite(0, 2 << 3, 0x04, 2, 0x0006);
    m.memWrite(0xfe002014, 4, 0x44);
    const copy = Machine.create({ devices: ["virtio-scsi-pci,id=v,addr=2"] });
    copy.load(m.save());
    expect(copy.memRead(0xfe002014, 4)).toBe(0x44);
    expect(copy.findDevice("v")).toBeInstanceOf(VirtioScsiPci);
  });
});
