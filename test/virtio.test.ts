import "reflect-metadata";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError, type MsiEvent } from "../src/index.js";
import { VirtioBalloonPci } from "../devices/virtio-balloon-pci.js";
import { VirtioBlkPci } from "../devices/virtio-blk-pci.js";
import { VirtioNetPci } from "../devices/virtio-net-pci.js";
import { VirtioSerialPci } from "../devices/virtio-serial-pci.js";
import type { VirtioPciDevice } from "../src/virtio/transport.js";
import { probeBar } from "./support/config-cycles.js";

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

function barSize(m: Machine, off: number): number {
  const mask = probeBar(m, DEVFN, off);
  if (mask === 0) return 0;
  return (~(mask & (mask & 1 ? ~3 : ~0xf)) + 1) >>> 0;
}

const bytes = (m: Machine, base: number, n: number, io = true) =>
  Array.from({ length: n }, (_, i) => (io ? m.ioRead(base + i, 1) : m.memRead(base + i, 1)));

describe("virtio-pci transport", () => {
  it("virtio-net on pc has MSI-X and the modern capabilities in QEMU's order: common, ISR, device, notify, PCI cfg, then MSI-X at the head", () => {
    const { m, cfg } = machine("virtio-net-pci");
    expect(cfg.read(0x00)).toBe(0x10001af4);
    expect(cfg.read(0x2c)).toBe(0x00011af4);
    expect(capabilities(cfg)).toEqual([
      [0x98, 0x11, -1],
      [0x84, 0x09, 5],
      [0x70, 0x09, 2],
      [0x60, 0x09, 4],
      [0x50, 0x09, 3],
      [0x40, 0x09, 1],
    ]);
    // notify: BAR 4 at 0x3000, 4 KiB, queue notify addresses 4 bytes apart
    expect([0x70, 0x74, 0x78, 0x7c, 0x80].map((o) => cfg.read(o))).toEqual([0x02146009, 4, 0x3000, 0x1000, 4]);
    expect([barSize(m, 0x10), barSize(m, 0x14), barSize(m, 0x20)]).toEqual([0x20, 0x1000, 0x4000]);
  });

  it("with vectors=0 there is no MSI-X capability and no BAR 1, and the legacy header is 20 bytes", () => {
    const { cfg, m } = machine("virtio-net-pci,vectors=0");
    expect(capabilities(cfg).map(([, id]) => id)).not.toContain(0x11);
    expect(barSize(m, 0x14)).toBe(0);
    expect(bytes(m, IO + 20, 6)).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  });

  it("disable-modern=on gives a legacy-only device: 0x1000 id, no vendor capabilities, no BAR 4", () => {
    const { m, cfg } = machine("virtio-net-pci,disable-modern=on");
    expect(cfg.read(0x00)).toBe(0x10001af4);
    expect(cfg.read(0x08)).toBe(0x02000000);
    expect(capabilities(cfg)).toEqual([[0x40, 0x11, -1]]);
    expect(barSize(m, 0x20)).toBe(0);
  });

  it("disable-legacy=on gives a modern-only device: 0x1041, revision 1, QEMU's default subsystem, no I/O BAR", () => {
    const { m, cfg } = machine("virtio-net-pci,disable-legacy=on");
    expect(cfg.read(0x00)).toBe(0x10411af4);
    expect(cfg.read(0x08)).toBe(0x02000001);
    expect(cfg.read(0x2c)).toBe(0x11001af4);
    expect(barSize(m, 0x10)).toBe(0);
  });

  it("refuses to have neither interface, in QEMU's words", () => {
    expect(() => machine("virtio-net-pci,disable-legacy=on,disable-modern=on")).toThrow(
      /device cannot work as neither modern nor legacy mode is enabled/,
    );
  });

  it("modern-pio-notify adds an I/O BAR 2 of 4 bytes and a second notify capability before the PCI cfg one", () => {
    const { m, cfg } = machine("virtio-net-pci,modern-pio-notify=on");
    expect(capabilities(cfg).slice(0, 3)).toEqual([
      [0xac, 0x11, -1],
      [0x98, 0x09, 5],
      [0x84, 0x09, 2],
    ]);
    expect([0x88, 0x8c, 0x90, 0x94].map((o) => cfg.read(o))).toEqual([2, 0, 4, 0]);
    expect(barSize(m, 0x18)).toBe(4);
  });

  it("the legacy header reads the MAC through the I/O BAR, after 20 bytes, or 24 while MSI-X is enabled", () => {
    const { m, cfg } = machine("virtio-net-pci");
    expect(m.ioRead(IO, 4)).toBe(0x79bf8064); // host features on pc-i440fx-7.2, no netdev
    expect(bytes(m, IO + 20, 8)).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x01, 0x00]);
    expect(m.ioRead(IO + 28, 4)).toBe(0xffffffff); // past the 8 config bytes
    cfg.write(0x98 + 3, 0x80, 1);
    expect(m.ioRead(IO + 20, 2)).toBe(0xffff); // config vector: none
    expect(m.ioRead(IO + 24, 4)).toBe(0x12005452);
  });

  it("the modern common configuration shows the features without the legacy-only ones, and the queues", () => {
    const { m } = machine("virtio-net-pci");
    m.memWrite(MODERN, 4, 0);
    expect(m.memRead(MODERN + 4, 4)).toBe(0x30bf8024);
    m.memWrite(MODERN, 4, 1);
    expect(m.memRead(MODERN + 4, 4)).toBe(0x00000101); // VERSION_1, RING_RESET
    expect(m.memRead(MODERN + 0x12, 2)).toBe(3);
    const sizes = [0, 1, 2].map((q) => (m.memWrite(MODERN + 0x16, 2, q), m.memRead(MODERN + 0x18, 2)));
    expect(sizes).toEqual([256, 256, 64]);
    expect(bytes(m, MODERN + 0x2000, 9, false)).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x01, 0x00, 0xff]);
  });

  it("a register answers only at its own offset: a dword read of msix_config returns it alone", () => {
    const { m } = machine("virtio-net-pci");
    expect(m.memRead(MODERN + 0x10, 4)).toBe(0x0000ffff);
    expect(m.ioRead(IO + 1, 1)).toBe(0xff); // inside host features
    expect(m.ioRead(IO + 16, 4)).toBe(0xffffffff); // queue notify is write-only
  });

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
    const { m, cfg } = machine("virtio-net-pci");
    cfg.write(0x98 + 3, 0x80, 1);
    m.ioWrite(IO + 20, 2, 3);
    expect(m.ioRead(IO + 20, 2)).toBe(3);
    m.ioWrite(IO + 20, 2, 4);
    expect(m.ioRead(IO + 20, 2)).toBe(0xffff);
    m.memWrite(MODERN + 0x10, 4, 0x10002); // the whole dword counts: vector 0x10002
    expect(m.memRead(MODERN + 0x10, 2)).toBe(0xffff);
  });

  it("without MSI-X a queue interrupt raises INTx until the guest reads the ISR", () => {
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
    const { m, dev } = machine("virtio-net-pci,vectors=0");
    dev.notifyConfig();
    expect(m.ioRead(IO + 19, 1)).toBe(0);
    m.ioWrite(IO + 18, 1, 0x07);
    dev.notifyConfig();
    expect(m.ioRead(IO + 19, 1)).toBe(3);
    expect(m.memRead(MODERN + 0x15, 1)).toBe(1); // config generation
  });

  it("writing status 0 resets the device: features, queue addresses, vectors; ACKNOWLEDGE|DRIVER turns bus mastering on", () => {
    const { m, cfg } = machine("virtio-net-pci");
    cfg.write(0x04, 0x0003, 2);
    m.ioWrite(IO + 18, 1, 0x03);
    expect(cfg.read(0x04) & 0x7).toBe(0x7);
    m.ioWrite(IO + 4, 4, 0x00010020);
    expect(m.ioRead(IO + 4, 4)).toBe(0x00010020);
    m.ioWrite(IO + 8, 4, 0x1234);
    expect(m.ioRead(IO + 8, 4)).toBe(0x1234);
    m.ioWrite(IO + 18, 1, 0);
    expect([m.ioRead(IO + 4, 4), m.ioRead(IO + 8, 4), m.ioRead(IO + 18, 1)]).toEqual([0, 0, 0]);
  });

  it("the PCI cfg access capability reaches the device configuration through config cycles", () => {
    const { cfg } = machine("virtio-net-pci");
    cfg.write(0x84 + 4, 4, 1);
    cfg.write(0x84 + 8, 0x2000);
    cfg.write(0x84 + 12, 4);
    expect(cfg.read(0x84 + 16)).toBe(0x12005452);
    cfg.write(0x84 + 8, 0x14); // device_status, one byte
    cfg.write(0x84 + 12, 1);
    cfg.write(0x84 + 16, 0x01, 1);
    expect(cfg.read(0x84 + 16) & 0xff).toBe(1);
  });

  it("the PCI cfg window reads live only while its length is 1, 2 or 4, and a snapshot keeps it so", () => {
    const { m, cfg } = machine("virtio-net-pci");
    const DATA = 0x84 + 16;
    cfg.write(0x84 + 8, 0x00); // device_feature_select
    m.memWrite(MODERN, 4, 1);
    expect(cfg.read(DATA)).toBe(0); // no length yet: the capability's own bytes
    cfg.write(0x84 + 12, 4);
    expect(cfg.read(DATA)).toBe(1);
    m.memWrite(MODERN, 4, 0);
    expect(cfg.read(DATA)).toBe(0);
    cfg.write(0x84 + 12, 3); // not an access size: QEMU leaves the bytes alone
    m.memWrite(MODERN, 4, 1);
    expect(cfg.read(DATA)).toBe(0);

    cfg.write(0x84 + 12, 4);
    const stream = m.save();
    const copy = machine("virtio-net-pci");
    copy.m.load(stream);
    copy.m.memWrite(MODERN, 4, 0);
    expect(copy.cfg.read(DATA)).toBe(0);
    copy.m.memWrite(MODERN, 4, 1);
    expect(copy.cfg.read(DATA)).toBe(1);
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
    const { m, cfg } = machine("virtio-net-pci");
    m.ioWrite(IO + 18, 1, 0x07);
    cfg.write(0x04, 0x0003, 2);
    expect(m.ioRead(IO + 18, 1)).toBe(0x03);
  });
});

describe("virtio devices as QEMU 7.2 shows them", () => {
  it("pc-i440fx-1.4 virtio-net: legacy only, 3 vectors, no CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE or ANY_LAYOUT, the 128 KiB pxe ROM", () => {
    const { m, cfg } = machine("virtio-net-pci", "pc-i440fx-1.4");
    expect(capabilities(cfg)).toEqual([[0x40, 0x11, -1]]);
    expect(cfg.read(0x40)).toBe(0x00020011);
    expect(m.ioRead(IO, 4)).toBe(0x719f8060);
    expect(barSize(m, 0x20)).toBe(0);
    cfg.write(0x30, 0xfffff800);
    expect(cfg.read(0x30)).toBe(0xfffe0000);
  });

  it("virtio-blk: capacity, geometry, seg_max, block size, write cache and limits from the drive and the properties", () => {
    const { m } = machine("virtio-blk-pci,drive=disk0");
    expect(m.ioRead(IO, 4)).toBe(0x79006e54);
    const v = new DataView(Uint8Array.from(bytes(m, MODERN + 0x2000, 61, false)).buffer);
    expect(v.getBigUint64(0, true)).toBe(2048n); // 1 MiB in sectors
    expect([v.getUint32(12, true), v.getUint16(16, true), v.getUint8(18), v.getUint8(19), v.getUint32(20, true)]).toEqual([
      254, 2, 16, 63, 512,
    ]);
    expect([v.getUint8(32), v.getUint16(34, true), v.getUint32(36, true), v.getUint32(48, true), v.getUint8(56)]).toEqual([
      1, 1, 0x3fffff, 0x3fffff, 1,
    ]);
    expect(v.getUint32(57, true)).toBe(0xffffffff); // the config ends at 57 bytes
  });

  it("virtio-blk on pc-i440fx-1.4: 128-entry queue, no discard or write-zeroes, SCSI offered to the legacy driver", () => {
    const { m } = machine("virtio-blk-pci,drive=disk0", "pc-i440fx-1.4");
    expect(m.ioRead(IO, 4)).toBe(0x71000ed4);
    expect(m.ioRead(IO + 12, 2)).toBe(128);
    expect(barSize(m, 0x10)).toBe(64);
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
    expect(machine("virtio-blk-pci,drive=ro").m.ioRead(IO, 4)).toBe(0x79006e74);
  });

  it("virtio-blk with 4 KiB blocks and a bigger drive: blk_size, topology, capacity still in 512-byte sectors", () => {
    const { m } = machine("virtio-blk-pci,drive=d,drive-size=1G,logical_block_size=4096,physical_block_size=4096,num-queues=2");
    const v = new DataView(Uint8Array.from(bytes(m, MODERN + 0x2000, 36, false)).buffer);
    expect(v.getBigUint64(0, true)).toBe(2097152n);
    expect([v.getUint16(16, true), v.getUint8(18), v.getUint8(19)]).toEqual([2080, 16, 56]); // 63 sectors rounded down to whole 4 KiB blocks
    expect([v.getUint32(20, true), v.getUint8(24), v.getUint16(34, true)]).toEqual([4096, 0, 2]);
    expect(m.memRead(MODERN + 0x12, 2)).toBe(2);
  });

  it("virtio-serial: 64 queues and max_nr_ports 31; pc-i440fx-1.4 has 32 vectors and no emergency write", () => {
    const now = machine("virtio-serial-pci");
    expect(now.m.memRead(MODERN + 0x12, 2)).toBe(64);
    expect(bytes(now.m, IO + 20, 13)).toEqual([0, 0, 0, 0, 31, 0, 0, 0, 0, 0, 0, 0, 0xff]);
    const old = machine("virtio-serial-pci", "pc-i440fx-1.4");
    expect(old.cfg.read(0x40)).toBe(0x001f0011);
    expect(old.m.ioRead(IO, 4)).toBe(0x71000002);
    expect(bytes(old.m, IO + 20, 9)).toEqual([0, 0, 0, 0, 31, 0, 0, 0, 0xff]);
  });

  it("virtio-serial keeps QEMU's accepted classes (0x0780, 0x0380, 0x00ff) and replaces others by 0x0780", () => {
    expect(machine("virtio-serial-pci,class=0x0380").cfg.read(0x08) >>> 16).toBe(0x0380);
    expect(machine("virtio-serial-pci,class=0x1234").cfg.read(0x08) >>> 16).toBe(0x0780);
  });

  it("seed-era machine types: pc-0.10 gives virtio-blk class 0x0180 without MSI-X and virtio-serial class 0x0380", () => {
    const blk = machine("virtio-blk-pci,drive=d", "pc-0.10");
    expect(blk.cfg.read(0x08) >>> 16).toBe(0x0180);
    expect(capabilities(blk.cfg)).toEqual([]);
    expect(machine("virtio-serial-pci", "pc-0.10").cfg.read(0x08) >>> 16).toBe(0x0380);
    expect(capabilities(machine("virtio-net-pci", "pc-0.10").cfg)).toEqual([]);
    expect(capabilities(machine("virtio-blk-pci,drive=d", "pc-0.11").cfg)).toEqual([]);
  });

  it("virtio-balloon: no MSI-X, three queues, 16 config bytes with page poisoning; the guest's answer is writable", () => {
    const { m, cfg, dev } = machine("virtio-balloon-pci");
    expect(capabilities(cfg).map(([, id]) => id)).not.toContain(0x11);
    expect(m.ioRead(IO, 4)).toBe(0x79000012);
    expect(m.memRead(MODERN + 0x12, 2)).toBe(3);
    expect(bytes(m, IO + 20, 17)).toEqual([...new Array(16).fill(0), 0xff]);
    (dev as VirtioBalloonPci).setTarget(64 * 1024 * 1024);
    expect(m.ioRead(IO + 20, 4)).toBe(16384); // pages of 4 KiB to give back from 128 MiB
    m.ioWrite(IO + 24, 4, 16384);
    expect((dev as VirtioBalloonPci).actualBytes).toBe(64 * 1024 * 1024);
  });

  it("virtio-net MACs default to 52:54:00:12:34:56 and count up per NIC; the guest's registers survive a snapshot", () => {
    const m = Machine.create({
      devices: ["virtio-net-pci,id=a", "virtio-net-pci,id=b", "virtio-net-pci,id=c,mac=52:54:00:12:34:58"],
      drivers: DRIVERS,
    });
    expect(["a", "b", "c"].map((id) => (m.findDevice(id) as VirtioNetPci).macAddress)).toEqual([
      "52:54:00:12:34:56",
      "52:54:00:12:34:57",
      "52:54:00:12:34:58",
    ]);
    const { m: one } = machine("virtio-net-pci");
    one.ioWrite(IO + 4, 4, 0x20);
    one.ioWrite(IO + 18, 1, 0x03);
    const copy = Machine.create({ machine: "pc-i440fx-7.2", devices: ["virtio-net-pci,id=dev"], drivers: DRIVERS });
    copy.load(one.save());
    expect([copy.ioRead(IO + 4, 4), copy.ioRead(IO + 18, 1)]).toEqual([0x20, 0x03]);
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
