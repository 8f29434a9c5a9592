import "reflect-metadata";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError, type MsiEvent } from "../src/index.js";
import { VirtioBalloonPci } from "../devices/virtio-balloon-pci.js";
import { VirtioBlkPci } from "../devices/virtio-blk-pci.js";
import { VirtioNetPci } from "../devices/virtio-net-pci.js";
import { VirtioSerialPci } from "../devices/virtio-serial-pci.js";
import type { VirtioPciDevice } from "../src/virtio/transport.js";
import { labelled, labelledOne, loadRegisterFixture, readValues, replayMatchesQemu, type Step } from "./support/register-fixtures.js";

// Register facts come from QEMU 7.2 through the scenarios of test/fixtures/qemu/registers
// (regenerate-registers.mjs): a test replays one on machbus and compares every read. Tests that
// drive a device from the host side (notifyQueue, a snapshot refused) are machbus-only.

const DEVFN = 2 << 3;
const IO = 0xc000;
const MSIX = 0xfebf0000;
const MODERN = 0xfe000000;
const DRIVERS = [VirtioNetPci, VirtioBlkPci, VirtioSerialPci, VirtioBalloonPci];
/** Host backends for drive=: never read, only named. */
const DRIVES = [
  "if=none,id=disk0,file=disk0.img,format=raw",
  "if=none,id=d,file=d.img,format=raw",
  "if=none,id=ro,file=ro.img,readonly=on",
];

/** A machine with one device at 00:02.0, its BARs programmed as SeaBIOS would, I/O, memory and bus mastering on. */
function machine(device: string, type = "pc-i440fx-7.2") {
  const m = Machine.create({ machine: type, devices: [`${device},id=dev`], drivers: DRIVERS, drives: DRIVES });
  const cfg = {
    read: (off: number, size: 1 | 2 | 4 = 4) => m.configRead(0, DEVFN, off, size),
    write: (off: number, value: number, size: 1 | 2 | 4 = 4) => m.configWrite(0, DEVFN, off, size, value),
  };
  cfg.write(0x10, IO | 1);
  cfg.write(0x14, MSIX);
  cfg.write(0x20, MODERN | 0xc);
  cfg.write(0x24, 0);
  cfg.write(0x04, 0x0007, 2);
  const msis: MsiEvent[] = [];
  m.events.on("msi", (e) => msis.push(e));
  const dev = m.findDevice("dev") as VirtioPciDevice;
  return { m, cfg, dev, msis };
}

/** The capability list as (offset, id, virtio cfg_type or -1). */
function capabilities(cfg: ReturnType<typeof machine>["cfg"]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let at = cfg.read(0x34) & 0xff; at; at = (cfg.read(at) >> 8) & 0xff) {
    const head = cfg.read(at);
    out.push([at, head & 0xff, (head & 0xff) === 0x09 ? head >>> 24 : -1]);
  }
  return out;
}

const [VENDOR, MSIX_ID] = [0x09, 0x11];
const [COMMON, NOTIFY, ISR, DEVICE, PCI_CFG] = [1, 2, 3, 4, 5];
/** A scenario's capability list as (id, virtio cfg_type or -1), from its "cap" header reads. */
const capList = (steps: Step[]): [number, number][] => labelled(steps, "cap").map((h) => [h & 0xff, (h & 0xff) === VENDOR ? h >>> 24 : -1]);
/** The size a BAR's write-ones read-back stands for (0: no BAR). */
const sizeOfMask = (mask: number): number => (mask === 0 ? 0 : (~(mask & (mask & 1 ? ~3 : ~0xf)) + 1) >>> 0);
const bit = (n: number) => 2 ** n;
const has = (features: number, n: number) => Math.floor(features / bit(n)) % 2 === 1;
const DEFAULT_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const VIRTIO_NO_VECTOR = 0xffff;

describe("virtio-pci transport", () => {
  it("virtio-net on pc has MSI-X and the modern capabilities in QEMU's order: common, ISR, device, notify, PCI cfg, then MSI-X at the head", () => {
    const { qemu } = replayMatchesQemu("virtio-net-capabilities");
    expect([labelledOne(qemu, "ids"), labelledOne(qemu, "subsystem")]).toEqual([0x10001af4, 0x00011af4]); // transitional id, subsystem = net
    expect(capList(qemu)).toEqual([
      [MSIX_ID, -1],
      [VENDOR, PCI_CFG],
      [VENDOR, NOTIFY],
      [VENDOR, DEVICE],
      [VENDOR, ISR],
      [VENDOR, COMMON],
    ]);
    expect(labelled(qemu, "notify capability")[1]! & 0xff).toBe(4); // in BAR 4, the modern BAR
    expect(["mask 0x10", "mask 0x14", "mask 0x20"].map((l) => labelledOne(qemu, l) & 1)).toEqual([1, 0, 0]);
  });

  it("with vectors=0 there is no MSI-X capability and no BAR 1, and the legacy header is 20 bytes", () => {
    const { qemu } = replayMatchesQemu("virtio-net-vectors-0");
    expect(capList(qemu).map(([id]) => id)).not.toContain(MSIX_ID);
    expect(labelledOne(qemu, "mask 0x14")).toBe(0);
    expect(labelled(qemu, "mac")).toEqual(DEFAULT_MAC);
  });

  it("disable-modern=on gives a legacy-only device: 0x1000 id, no vendor capabilities, no BAR 4", () => {
    const { qemu } = replayMatchesQemu("virtio-net-disable-modern");
    expect(labelledOne(qemu, "ids") >>> 16).toBe(0x1000);
    expect(labelledOne(qemu, "class/revision") & 0xff).toBe(0);
    expect(capList(qemu)).toEqual([[MSIX_ID, -1]]);
    expect(labelledOne(qemu, "mask 0x20")).toBe(0);
  });

  it("disable-legacy=on gives a modern-only device: 0x1041, revision 1, QEMU's default subsystem, no I/O BAR", () => {
    const { qemu } = replayMatchesQemu("virtio-net-disable-legacy");
    expect([labelledOne(qemu, "ids") >>> 16, labelledOne(qemu, "class/revision") & 0xff]).toEqual([0x1041, 1]);
    expect(labelledOne(qemu, "subsystem")).not.toBe(labelledOne(loadRegisterFixture("virtio-net-capabilities").steps, "subsystem"));
    expect(labelledOne(qemu, "mask 0x10")).toBe(0);
  });

  it("refuses to have neither interface, in QEMU's words", () => {
    expect(() => machine("virtio-net-pci,disable-legacy=on,disable-modern=on")).toThrow(
      /device cannot work as neither modern nor legacy mode is enabled/,
    );
  });

  it("modern-pio-notify adds an I/O BAR 2 of 4 bytes and a second notify capability before the PCI cfg one", () => {
    const { qemu } = replayMatchesQemu("virtio-net-modern-pio-notify");
    expect(capList(qemu).slice(0, 4)).toEqual([
      [MSIX_ID, -1],
      [VENDOR, PCI_CFG],
      [VENDOR, NOTIFY],
      [VENDOR, NOTIFY],
    ]);
    const [barByte, offset, length] = labelled(qemu, "pio notify capability");
    expect([barByte! & 0xff, offset, length]).toEqual([2, 0, 4]);
    const mask = labelledOne(qemu, "mask 0x18");
    expect([mask & 1, sizeOfMask(mask)]).toEqual([1, 4]);
  });

  it("the legacy header reads the MAC through the I/O BAR, after 20 bytes, or 24 while MSI-X is enabled", () => {
    const { qemu } = replayMatchesQemu("virtio-net-legacy-header");
    const config = labelled(qemu, "config");
    expect(config.slice(0, 6)).toEqual(DEFAULT_MAC);
    expect(labelledOne(qemu, "past the config")).toBe(0xffffffff); // past the 8 config bytes
    expect(labelledOne(qemu, "config vector")).toBe(VIRTIO_NO_VECTOR);
    expect(labelledOne(qemu, "config with MSI-X")).toBe((config[0]! | (config[1]! << 8) | (config[2]! << 16) | (config[3]! << 24)) >>> 0);
  });

  it("the modern common configuration shows the features without the legacy-only ones, and the queues", () => {
    const { qemu } = replayMatchesQemu("virtio-net-common-config");
    const legacy = labelledOne(loadRegisterFixture("virtio-net-legacy-header").steps, "host features");
    const modern = labelledOne(qemu, "device features 0-31");
    const [NOTIFY_ON_EMPTY, ANY_LAYOUT, VERSION_1] = [24, 27, 32];
    expect([
      (modern & ~legacy) >>> 0,
      has(legacy, NOTIFY_ON_EMPTY),
      has(modern, NOTIFY_ON_EMPTY),
      has(legacy, ANY_LAYOUT),
      has(modern, ANY_LAYOUT),
    ]).toEqual([0, true, false, true, false]);
    expect(has(labelledOne(qemu, "device features 32-63") * bit(32), VERSION_1)).toBe(true);
    expect(labelledOne(qemu, "num_queues")).toBe(3); // receive, transmit, control
    expect(labelled(qemu, "device config").slice(0, 6)).toEqual(DEFAULT_MAC);
  });

  it("a register answers only at its own offset: a dword read of msix_config returns it alone", () => {
    const { qemu } = replayMatchesQemu("virtio-net-register-width");
    // msix_config alone; a byte inside host features; queue notify is write-only
    expect(readValues(qemu).slice(-3)).toEqual([VIRTIO_NO_VECTOR, 0xff, 0xffffffff]);
  });

  it("the MSI-X table in BAR 1 reads as QEMU's: every vector masked, dword accesses only, the enable bit in Message Control", () => {
    const { qemu } = replayMatchesQemu("virtio-net-msix-table");
    expect(labelled(qemu, "vector 0")[3]).toBe(1);
    expect(labelled(qemu, "vector control")).toEqual([1, 1]);
    expect(["data", "data, word read", "vector control, byte read", "data after a byte write"].map((l) => labelledOne(qemu, l))).toEqual([
      0x4062, 0, 0, 0x4062,
    ]);
    expect(labelledOne(qemu, "MSI-X header enabled") >>> 31).toBe(1);
  });

  // machbus-only from here to the next QEMU scenario: notifyQueue() is the host side of a queue,
  // which a paused QEMU has no command for.
  it("MSI-X notify through the virtio transport: the queue's vector carries the table entry's message", () => {
    const { m, cfg, dev, msis } = machine("virtio-net-pci");
    m.memWrite(MSIX + 16 + 0, 4, 0xfee00000);
    m.memWrite(MSIX + 16 + 8, 4, 0x4062);
    m.memWrite(MSIX + 16 + 12, 4, 0);
    cfg.write(0x98 + 3, 0x80, 1);
    m.ioWrite(IO + 14, 2, 0); // queue 0
    m.ioWrite(IO + 22, 2, 1); // its vector: 1
    expect(m.ioRead(IO + 22, 2)).toBe(1);
    dev.notifyQueue(0);
    expect(msis).toEqual([{ device: "dev", bdf: "00:02.0", address: 0xfee00000n, data: 0x4062 }]);
    expect((cfg.read(0x04) >>> 16) & 0x08).toBe(0); // no INTx with MSI-X
    expect(m.ioRead(IO + 19, 1)).toBe(1);
  });

  it("a vector the device does not have reads back as none (0xffff)", () => {
    const { qemu } = replayMatchesQemu("virtio-net-vector-range");
    // 4 vectors (0-3): one per queue plus config; the whole dword counts in the modern register
    expect(["vector 3", "vector 4", "vector 0x10002"].map((l) => labelledOne(qemu, l))).toEqual([3, VIRTIO_NO_VECTOR, VIRTIO_NO_VECTOR]);
  });

  it("without MSI-X a queue interrupt raises INTx until the guest reads the ISR (machbus-only: notifyQueue)", () => {
    const { m, cfg, dev } = machine("virtio-net-pci,vectors=0");
    const levels: boolean[] = [];
    m.events.on("intx", (e) => levels.push(e.level));
    dev.notifyQueue(0);
    expect((cfg.read(0x04) >>> 16) & 0x08).toBe(0x08);
    expect(m.ioRead(IO + 19, 1)).toBe(1);
    expect(m.ioRead(IO + 19, 1)).toBe(0);
    expect((cfg.read(0x04) >>> 16) & 0x08).toBe(0);
    expect(levels).toEqual([true, false]);
  });

  it("a config change interrupts only a driver that set DRIVER_OK, with ISR bits 0 and 1", () => {
    // QEMU's config change is a link change (set_link); machbus's host side calls notifyConfig().
    const notify = (m: Machine) => (m.findDevice("dev") as VirtioPciDevice).notifyConfig();
    const { qemu } = replayMatchesQemu("virtio-net-config-interrupt", { hmp: { "set_link dev off": notify, "set_link dev on": notify } });
    expect(["ISR before DRIVER_OK", "ISR after DRIVER_OK", "config generation"].map((l) => labelledOne(qemu, l))).toEqual([0, 3, 1]);
  });

  it("writing status 0 resets the device: features, queue addresses, vectors; ACKNOWLEDGE|DRIVER turns bus mastering on", () => {
    const { qemu } = replayMatchesQemu("virtio-net-status-reset");
    expect(labelledOne(qemu, "command") & 0x7).toBe(0x7);
    expect([labelledOne(qemu, "guest features"), labelledOne(qemu, "queue address")]).toEqual([0x00010020, 0x1234]);
    expect(["guest features after reset", "queue address after reset", "status after reset"].map((l) => labelledOne(qemu, l))).toEqual([
      0, 0, 0,
    ]);
  });

  it("the PCI cfg access capability reaches the device configuration through config cycles", () => {
    const { qemu } = replayMatchesQemu("virtio-net-pci-cfg-access");
    const [b0, b1, b2, b3] = DEFAULT_MAC;
    expect(labelledOne(qemu, "window: device config")).toBe((b0! | (b1! << 8) | (b2! << 16) | (b3! << 24)) >>> 0);
    expect(labelledOne(qemu, "window: device_status") & 0xff).toBe(1);
  });

  it("the PCI cfg window reads live only while its length is 1, 2 or 4, and a snapshot keeps it so", () => {
    const { qemu } = replayMatchesQemu("virtio-net-pci-cfg-window");
    // device_feature_select through the window: 1, then 0; with length 0 or 3 the capability's own bytes (0)
    expect(["length 0", "length 4, select 1", "length 4, select 0", "length 3"].map((l) => labelledOne(qemu, l))).toEqual([0, 1, 0, 0]);
    expect(["after the snapshot, select 0", "after the snapshot, select 1"].map((l) => labelledOne(qemu, l))).toEqual([0, 1]);
  });

  it("a snapshot of an MSI-X virtio-net does not load into one with vectors=0, nor the reverse, nor at another slot", () => {
    const at = (spec: string) => Machine.create({ devices: [spec], drivers: DRIVERS });
    const msix = at("virtio-net-pci,id=n,addr=4");
    const none = at("virtio-net-pci,id=n,addr=4,vectors=0");
    const before = none.save();
    expect(() => none.load(msix.save())).toThrow(
      /capabilities 0x11 are present in the stream but virtio-net-pci,id=n \(00:04\.0\) does not support them \(it has 0x09\)/,
    );
    expect(none.save()).toEqual(before);
    expect(() => msix.load(none.save())).toThrow(/capability pointer: Bad config data: i=0x34 read: 84 device: 98/);
    expect(() => at("virtio-net-pci,id=n,addr=5").load(msix.save())).toThrow(
      /virtio-net-pci,id=n \(00:05\.0\) sits at pci\.0:05\.0 in this machine/,
    );
  });

  it("clearing bus mastering takes DRIVER_OK away", () => {
    const { qemu } = replayMatchesQemu("virtio-net-bus-master-clear");
    expect(labelledOne(qemu, "status")).toBe(0x07 & ~0x04);
  });
});

describe("virtio devices as QEMU 7.2 shows them", () => {
  it("pc-i440fx-1.4 virtio-net: legacy only, 3 vectors, no CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE or ANY_LAYOUT, the 128 KiB pxe ROM", () => {
    const { qemu } = replayMatchesQemu("virtio-net@pc-i440fx-1.4");
    expect(capList(qemu)).toEqual([[MSIX_ID, -1]]);
    expect(((labelledOne(qemu, "MSI-X header") >>> 16) & 0x7ff) + 1).toBe(3);
    const [CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE, ANY_LAYOUT] = [2, 21, 27];
    const now = labelledOne(loadRegisterFixture("virtio-net-legacy-header").steps, "host features");
    const old = labelledOne(qemu, "host features");
    expect([CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE, ANY_LAYOUT].map((f) => [has(now, f), has(old, f)])).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);
    expect(labelledOne(qemu, "mask 0x20")).toBe(0);
    expect(sizeOfMask(labelledOne(qemu, "ROM BAR"))).toBe(128 * 1024);
  });

  it("virtio-blk: capacity, geometry, seg_max, block size, write cache and limits from the drive and the properties", () => {
    const { qemu } = replayMatchesQemu("virtio-blk-config");
    const v = new DataView(Uint8Array.from(labelled(qemu, "config")).buffer);
    expect(v.getBigUint64(0, true)).toBe(BigInt((1024 * 1024) / 512)); // the 1 MiB drive in sectors
    expect([v.getUint32(12, true), v.getUint32(20, true)]).toEqual([256 - 2, 512]); // seg_max: queue-size - 2; blk_size
    expect(v.getUint32(57, true)).toBe(0xffffffff); // the config ends at 57 bytes
  });

  it("virtio-blk on pc-i440fx-1.4: 128-entry queue, no discard or write-zeroes, SCSI offered to the legacy driver", () => {
    const { qemu } = replayMatchesQemu("virtio-blk@pc-i440fx-1.4");
    const [SCSI, DISCARD, WRITE_ZEROES] = [7, 13, 14];
    const features = labelledOne(qemu, "host features");
    expect([has(features, SCSI), has(features, DISCARD), has(features, WRITE_ZEROES)]).toEqual([true, false, false]);
    expect(labelledOne(qemu, "queue size")).toBe(128);
  });

  it("virtio-blk needs a drive, in QEMU's words", () => {
    expect(() => machine("virtio-blk-pci")).toThrow(MachbusError);
    expect(() => machine("virtio-blk-pci")).toThrow(/drive property not set/);
    expect(() => machine("virtio-blk-pci,drive=d,scsi=on")).toThrow(
      /Please set scsi=off for virtio-blk devices in order to use virtio 1.0/,
    );
    expect(() => machine("virtio-blk-pci,drive=d,queue-size=100")).toThrow(
      /invalid queue-size property \(100\), must be a power of 2 \(max 1024\)/,
    );
    expect(() => machine("virtio-blk-pci,drive=nosuch")).toThrow(/can't find value 'nosuch'/);
  });

  it("virtio-blk on a read-only drive offers VIRTIO_BLK_F_RO", () => {
    const RO = 5;
    const ro = labelledOne(replayMatchesQemu("virtio-blk-readonly").qemu, "host features");
    const rw = labelledOne(loadRegisterFixture("virtio-blk-config").steps, "host features");
    expect([has(ro, RO), has(rw, RO), (ro & ~bit(RO)) >>> 0]).toEqual([true, false, rw]);
  });

  it("virtio-blk with 4 KiB blocks and a bigger drive: blk_size, topology, capacity still in 512-byte sectors", () => {
    const { qemu } = replayMatchesQemu("virtio-blk-4k-blocks");
    const v = new DataView(Uint8Array.from(labelled(qemu, "config")).buffer);
    expect(v.getBigUint64(0, true)).toBe(BigInt(2 ** 30 / 512));
    expect(v.getUint8(19) % 8).toBe(0); // sectors per track: whole 4 KiB blocks
    expect([v.getUint32(20, true), v.getUint8(24), labelledOne(qemu, "num_queues")]).toEqual([4096, 0, 2]);
  });

  it("virtio-serial: 64 queues and max_nr_ports 31; pc-i440fx-1.4 has 32 vectors and no emergency write", () => {
    const { qemu: now } = replayMatchesQemu("virtio-serial-config");
    expect(labelledOne(now, "num_queues")).toBe(64);
    const nowConfig = labelled(now, "config");
    expect(new DataView(Uint8Array.from(nowConfig).buffer).getUint32(4, true)).toBe(31);
    const { qemu: old } = replayMatchesQemu("virtio-serial@pc-i440fx-1.4");
    const EMERG_WRITE = 2;
    expect(((labelledOne(old, "MSI-X header") >>> 16) & 0x7ff) + 1).toBe(32);
    expect([has(labelledOne(now, "host features"), EMERG_WRITE), has(labelledOne(old, "host features"), EMERG_WRITE)]).toEqual([
      true,
      false,
    ]);
    // without emergency write the config ends after max_nr_ports
    expect([nowConfig.indexOf(0xff), labelled(old, "config").indexOf(0xff)]).toEqual([12, 8]);
  });

  it("virtio-serial keeps QEMU's accepted classes (0x0780, 0x0380, 0x00ff) and replaces others by 0x0780", () => {
    const classOf = (name: string) => labelledOne(replayMatchesQemu(name).qemu, "class/revision") >>> 16;
    expect([classOf("virtio-serial-class-0x0380"), classOf("virtio-serial-class-0x1234")]).toEqual([0x0380, 0x0780]);
  });

  // machbus-only: QEMU 7.2 has no pc-0.10 or pc-0.11 to measure.
  it("seed-era machine types: pc-0.10 gives virtio-blk class 0x0180 without MSI-X and virtio-serial class 0x0380", () => {
    const blk = machine("virtio-blk-pci,drive=d", "pc-0.10");
    expect(blk.cfg.read(0x08) >>> 16).toBe(0x0180);
    expect(capabilities(blk.cfg)).toEqual([]);
    expect(machine("virtio-serial-pci", "pc-0.10").cfg.read(0x08) >>> 16).toBe(0x0380);
    expect(capabilities(machine("virtio-net-pci", "pc-0.10").cfg)).toEqual([]);
    expect(capabilities(machine("virtio-blk-pci,drive=d", "pc-0.11").cfg)).toEqual([]);
  });

  it("virtio-balloon: no MSI-X, three queues, 16 config bytes with page poisoning; the guest's answer is writable", () => {
    const target = (m: Machine) => (m.findDevice("dev") as VirtioBalloonPci).setTarget(64 * 1024 * 1024);
    const { qemu, machine: m } = replayMatchesQemu("virtio-balloon-config", { hmp: { "balloon 64": target } });
    expect(capList(qemu).map(([id]) => id)).not.toContain(MSIX_ID);
    expect(labelledOne(qemu, "num_queues")).toBe(3);
    expect(labelled(qemu, "config").indexOf(0xff)).toBe(16);
    expect(labelledOne(qemu, "num_pages")).toBe((128 - 64) * 256); // 4 KiB pages to give back from 128 MiB
    expect((m.findDevice("dev") as VirtioBalloonPci).actualBytes).toBe(labelledOne(qemu, "actual") * 4096);
  });

  it("virtio-net MACs default to 52:54:00:12:34:56 and count up per NIC; the guest's registers survive a snapshot", () => {
    const { qemu, machine: m } = replayMatchesQemu("virtio-net-macs");
    const mac = (id: string) =>
      labelled(qemu, `mac ${id}`)
        .map((b) => b.toString(16).padStart(2, "0"))
        .join(":");
    expect(["a", "b", "c"].map(mac)).toEqual(["52:54:00:12:34:56", "52:54:00:12:34:57", "52:54:00:12:34:58"]);
    expect(["a", "b", "c"].map((id) => (m.findDevice(id) as VirtioNetPci).macAddress)).toEqual(["a", "b", "c"].map(mac));
    const { qemu: after } = replayMatchesQemu("virtio-net-snapshot");
    expect([labelledOne(after, "guest features"), labelledOne(after, "status")]).toEqual([0x20, 0x03]);
  });

  it("declares every property QEMU's -device help lists, with QEMU's defaults for the ones that shape the guest view", () => {
    const m = Machine.create({ devices: ["virtio-blk-pci,id=b,drive=d"], drivers: DRIVERS, drives: DRIVES });
    const props = m.placement(m.findDevice("b")!)!.props;
    expect([
      props["disable-legacy"],
      props["disable-modern"],
      props["vectors"],
      props["num-queues"],
      props["queue-size"],
      props["discard_granularity"],
    ]).toEqual(["auto", false, 0xffffffff, 65535, 256, 0xffffffff]);
  });
});
