import * as a from "./aml.js";
import type { Aml } from "./aml.js";
import type { PcAcpiConfig, AcpiBus } from "./pc-config.js";

/**
 * The DSDT QEMU 7.2 builds for `pc` (build_dsdt in hw/i386/acpi-build.c, i440FX/PIIX4 branch),
 * term by term in QEMU's order: the debug port, PCI0, PIIX4 ACPI PCI hotplug (the registers at
 * 0xae00 and their methods), the PCI interrupt links over PIIX3's PIRQ registers, the HPET, the
 * CPU hotplug block, the root bus's windows (_CRS), the GPE and hotplug resources, sleep states,
 * fw_cfg, and one object per PCI slot with the hotplug methods the guest's acpiphp uses.
 */
export function pcDsdtBody(config: PcAcpiConfig): Uint8Array {
  return a.encode(
    debugPort(),
    a.scope("_SB", a.device("PCI0", a.nameDecl("_HID", a.eisaId("PNP0A03")), a.nameDecl("_ADR", a.int(0)), a.nameDecl("_UID", a.int(0)))),
    pciHotplugRegisters(),
    pciInterruptLinks(),
    ...(config.hpet ? [hpet()] : []),
    a.scope("_GPE", a.nameDecl("_HID", a.string("ACPI0006"))),
    cpuHotplug(),
    a.method("\\_GPE._E02", 0, false, a.call("\\_SB.CPUS.CSCN")),
    a.scope(
      "\\_SB.PCI0",
      a.nameDecl("_CRS", rootBusResources(config)),
      resourceDevice("GPE0", "GPE0 resources", GPE0_BLOCK, GPE0_LENGTH),
      resourceDevice("PHPR", "PCI Hotplug resources", PCIHP_BASE, PCIHP_LENGTH),
    ),
    a.scope(
      "\\",
      a.nameDecl("_S3", a.packageOf(a.int(1), a.int(1), a.int(0), a.int(0))),
      a.nameDecl("_S4", a.packageOf(a.int(2), a.int(2), a.int(0), a.int(0))),
      a.nameDecl("_S5", a.packageOf(a.int(0), a.int(0), a.int(0), a.int(0))),
    ),
    a.scope(
      "\\_SB.PCI0",
      a.device(
        "FWCF",
        a.nameDecl("_HID", a.string("QEMU0002")),
        a.nameDecl("_STA", a.int(0x0b)),
        a.nameDecl("_CRS", a.resourceTemplate(a.io(FW_CFG_PORT, FW_CFG_PORT, 1, FW_CFG_PORTS))),
      ),
    ),
    a.scope("\\_SB", a.scope("PCI0", ...busDevices(config.rootBus, config))),
    a.scope(
      "_GPE",
      a.method("_E01", 0, false, a.acquire("\\_SB.PCI0.BLCK", 0xffff), a.call("\\_SB.PCI0.PCNT"), a.release("\\_SB.PCI0.BLCK")),
    ),
  );
}

export const PCIHP_BASE = 0xae00;
const PCIHP_LENGTH = 0x18;
export const GPE0_BLOCK = 0xafe0;
export const GPE0_LENGTH = 4;
const CPU_HOTPLUG_BASE = 0xaf00;
const CPU_HOTPLUG_LENGTH = 0x0c;
const FW_CFG_PORT = 0x510;
const FW_CFG_PORTS = 2; // without the DMA interface
const HPET_BASE = 0xfed00000;
const HPET_LENGTH = 0x400;
const DEBUG_PORT = 0x402;
const IO_APIC = 0xfec00000;

const L = a.local;
const A = a.arg;
const ONE = a.int(1);
const ZERO = a.int(0);

/** QEMU's debug helper: DBUG writes a value as hex text to port 0x402. */
function debugPort(): Aml {
  return a.scope(
    "\\",
    a.operationRegion("DBG", a.RegionSpace.SystemIO, a.int(DEBUG_PORT), 1),
    a.field("DBG", a.FieldAccess.Byte, false, a.FieldUpdate.Preserve, a.namedField("DBGB", 8)),
    a.method(
      "DBUG",
      1,
      false,
      a.toHexString(A(0), L(0)),
      a.toBuffer(L(0), L(0)),
      a.subtract(a.sizeOf(L(0)), ONE, L(1)),
      a.store(ZERO, L(2)),
      a.whileDo(a.lless(L(2), L(1)), a.store(a.derefOf(a.index(L(0), L(2))), a.name("DBGB")), a.increment(L(2))),
      a.store(a.int(0x0a), a.name("DBGB")),
    ),
  );
}

/** PIIX4 ACPI PCI hotplug: up/down (0xae00), eject (0xae08), bus select and acpi-index (0xae10), and their methods. */
function pciHotplugRegisters(): Aml {
  const dwords = (region: string, ...fields: [string, number][]): Aml =>
    a.field(region, a.FieldAccess.DWord, false, a.FieldUpdate.WriteAsZeros, ...fields.map(([n, bits]) => a.namedField(n, bits)));
  return a.scope(
    "_SB.PCI0",
    a.operationRegion("PCST", a.RegionSpace.SystemIO, a.int(PCIHP_BASE), 0x08),
    dwords("PCST", ["PCIU", 32], ["PCID", 32]),
    a.operationRegion("SEJ", a.RegionSpace.SystemIO, a.int(PCIHP_BASE + 0x08), 0x04),
    dwords("SEJ", ["B0EJ", 32]),
    a.operationRegion("BNMR", a.RegionSpace.SystemIO, a.int(PCIHP_BASE + 0x10), 0x08),
    dwords("BNMR", ["BNUM", 32], ["PIDX", 32]),
    a.mutex("BLCK", 0),
    a.method(
      "PCEJ",
      2,
      false,
      a.acquire("BLCK", 0xffff),
      a.store(A(0), a.name("BNUM")),
      a.store(a.shiftLeft(ONE, A(1)), a.name("B0EJ")),
      a.release("BLCK"),
      a.returnValue(ZERO),
    ),
    a.method(
      "AIDX",
      2,
      false,
      a.acquire("BLCK", 0xffff),
      a.store(A(0), a.name("BNUM")),
      a.store(a.shiftLeft(ONE, A(1)), a.name("PIDX")),
      a.store(a.name("PIDX"), L(0)),
      a.release("BLCK"),
      a.returnValue(L(0)),
    ),
    pciDsmMethod(),
  );
}

/** PDSM: the PCI Device Labeling _DSM (function 0: supported functions; 7: the acpi-index) for every slot. */
function pciDsmMethod(): Aml {
  const acpiIndex = a.store(a.call("AIDX", a.derefOf(a.index(A(4), ZERO)), a.derefOf(a.index(A(4), ONE))), L(2));
  return a.method(
    "PDSM",
    5,
    true,
    a.ifThen(
      a.equal(A(2), ZERO),
      a.store(a.buffer([0]), L(0)),
      a.store(ZERO, L(1)),
      a.ifThen(a.lnot(a.equal(A(0), a.uuid("e5c937d0-3553-4d7a-9117-ea4d19c3434d"))), a.returnValue(L(0))),
      a.ifThen(a.lless(A(1), a.int(2)), a.returnValue(L(0))),
      acpiIndex,
      a.ifThen(
        a.lnot(a.or(a.equal(L(2), ZERO), a.equal(L(2), a.int(0xffffffff)))),
        a.or(L(1), ONE, L(1)),
        a.or(L(1), a.shiftLeft(ONE, a.int(7)), L(1)),
      ),
      a.store(L(1), a.index(L(0), ZERO)),
      a.returnValue(L(0)),
    ),
    a.ifThen(
      a.equal(A(2), a.int(7)),
      acpiIndex,
      a.store(a.emptyPackage(2), L(0)),
      a.ifThen(
        a.lnot(a.lor(a.equal(L(2), ZERO), a.equal(L(2), a.int(0xffffffff)))),
        a.store(L(2), a.index(L(0), ZERO)),
        a.store(a.string(""), a.index(L(0), ONE)),
      ),
      a.returnValue(L(0)),
    ),
  );
}

/** The root bus's _PRT (slot + pin swizzle onto LNKA-D, with PIIX4 PM's SCI on LNKS), IQST/IQCR and the link devices. */
function pciInterruptLinks(): Aml {
  const entry = (link: string): Aml => a.store(a.packageOf(ZERO, ZERO, a.name(link), ZERO), L(4));
  const prt = a.method(
    "_PRT",
    0,
    false,
    a.store(a.emptyPackage(0x80), L(0)),
    a.store(ZERO, L(1)),
    a.whileDo(
      a.lless(L(1), a.int(0x80)),
      a.store(a.shiftRight(L(1), a.int(2)), L(2)),
      a.store(a.and(a.add(L(1), L(2)), a.int(3)), L(3)),
      a.ifThen(a.equal(L(3), ZERO), entry("LNKD")),
      a.ifThen(a.equal(L(3), ONE), a.ifThen(a.equal(L(1), a.int(4)), entry("LNKS")), a.elseDo(entry("LNKA"))),
      a.ifThen(a.equal(L(3), a.int(2)), entry("LNKB")),
      a.ifThen(a.equal(L(3), a.int(3)), entry("LNKC")),
      a.store(a.or(a.shiftLeft(L(2), a.int(16)), a.int(0xffff)), a.index(L(4), ZERO)),
      a.store(a.and(L(1), a.int(3)), a.index(L(4), ONE)),
      a.store(L(4), a.index(L(0), L(1))),
      a.increment(L(1)),
    ),
    a.returnValue(L(0)),
  );
  const link = (name: string, uid: number, reg: string): Aml =>
    a.device(
      name,
      a.nameDecl("_HID", a.eisaId("PNP0C0F")),
      a.nameDecl("_UID", a.int(uid)),
      a.nameDecl("_PRS", a.resourceTemplate(a.sharedLevelInterrupt(5, 10, 11))),
      a.method("_STA", 0, false, a.returnValue(a.call("IQST", a.name(reg)))),
      a.method("_DIS", 0, false, a.or(a.name(reg), a.int(0x80), a.name(reg))),
      a.method("_CRS", 0, false, a.returnValue(a.call("IQCR", a.name(reg)))),
      a.method("_SRS", 1, false, a.createDWordField(A(0), a.int(5), "PRRI"), a.store(a.name("PRRI"), a.name(reg))),
    );
  return a.scope(
    "_SB",
    a.scope("PCI0", prt),
    a.method("IQST", 1, false, a.ifThen(a.and(a.int(0x80), A(0)), a.returnValue(a.int(0x09))), a.returnValue(a.int(0x0b))),
    a.method(
      "IQCR",
      1,
      true,
      a.nameDecl("PRR0", a.resourceTemplate(a.sharedLevelInterrupt(0))),
      a.createDWordField(a.name("PRR0"), a.int(5), "PRRI"),
      a.ifThen(a.lless(A(0), a.int(0x80)), a.store(A(0), a.name("PRRI"))),
      a.returnValue(a.name("PRR0")),
    ),
    link("LNKA", 0, "PRQ0"),
    link("LNKB", 1, "PRQ1"),
    link("LNKC", 2, "PRQ2"),
    link("LNKD", 3, "PRQ3"),
    a.device(
      "LNKS",
      a.nameDecl("_HID", a.eisaId("PNP0C0F")),
      a.nameDecl("_UID", a.int(4)),
      a.nameDecl("_PRS", a.resourceTemplate(a.sharedLevelInterrupt(9))),
      a.method("_STA", 0, false, a.returnValue(a.int(0x0b))),
      a.method("_DIS", 0, false),
      a.method("_CRS", 0, false, a.returnValue(a.name("_PRS"))),
      a.method("_SRS", 1, false),
    ),
  );
}

function hpet(): Aml {
  const either = (x: Aml, y: Aml): Aml => a.lor(x, y);
  return a.scope(
    "_SB",
    a.device(
      "HPET",
      a.nameDecl("_HID", a.eisaId("PNP0103")),
      a.nameDecl("_UID", ZERO),
      a.operationRegion("HPTM", a.RegionSpace.SystemMemory, a.int(HPET_BASE), HPET_LENGTH),
      a.field("HPTM", a.FieldAccess.DWord, true, a.FieldUpdate.Preserve, a.namedField("VEND", 32), a.namedField("PRD", 32)),
      a.method(
        "_STA",
        0,
        false,
        a.store(a.name("VEND"), L(0)),
        a.store(a.name("PRD"), L(1)),
        a.shiftRight(L(0), a.int(16), L(0)),
        a.ifThen(either(a.equal(L(0), ZERO), a.equal(L(0), a.int(0xffff))), a.returnValue(ZERO)),
        a.ifThen(either(a.equal(L(1), ZERO), a.lgreater(L(1), a.int(100_000_000))), a.returnValue(ZERO)),
        a.returnValue(a.int(0x0f)),
      ),
      a.nameDecl("_CRS", a.resourceTemplate(a.memory32Fixed(HPET_BASE, HPET_LENGTH, false))),
    ),
  );
}

/** QEMU's CPU hotplug interface (hw/acpi/cpu.c) for the board's one CPU: the register block at 0xaf00 and \_SB.CPUS. */
function cpuHotplug(): Aml {
  const pres = "\\_SB.PCI0.PRES";
  const lock = `${pres}.CPLK`;
  const reg = (n: string): Aml => a.name(`${pres}.${n}`);
  const locked = (...body: Aml[]): Aml[] => [a.acquire(lock, 0xffff), ...body, a.release(lock)];
  const cscn = a.method(
    "CSCN",
    0,
    true,
    a.acquire(lock, 0xffff),
    a.nameDecl("CNEW", a.emptyPackage(0xff)),
    a.store(ZERO, L(3)),
    a.store(ONE, L(4)),
    a.whileDo(
      a.equal(L(4), ONE),
      a.store(ZERO, L(4)),
      a.store(ONE, L(0)),
      a.store(ZERO, L(1)),
      a.whileDo(
        a.land(a.equal(L(0), ONE), a.lless(L(3), ONE)),
        a.store(ZERO, L(0)),
        a.store(L(3), reg("CSEL")),
        a.store(ZERO, reg("CCMD")),
        a.ifThen(a.lless(reg("CDAT"), L(3)), a.breakOp),
        a.ifThen(a.equal(L(1), a.int(0xff)), a.store(ONE, L(4)), a.breakOp),
        a.store(reg("CDAT"), L(3)),
        a.ifThen(a.equal(reg("CINS"), ONE), a.store(L(3), a.index(a.name("CNEW"), L(1))), a.increment(L(1)), a.store(ONE, L(0))),
        a.elseDo(a.ifThen(a.equal(reg("CRMV"), ONE), a.call("CTFY", L(3), a.int(3)), a.store(ONE, reg("CRMV")), a.store(ONE, L(0)))),
        a.increment(L(3)),
      ),
      a.store(ZERO, L(2)),
      a.whileDo(
        a.lless(L(2), L(1)),
        a.store(a.derefOf(a.index(a.name("CNEW"), L(2))), L(3)),
        a.call("CTFY", L(3), ONE),
        a.store(L(3), a.debug),
        a.store(L(3), reg("CSEL")),
        a.store(ONE, reg("CINS")),
        a.increment(L(2)),
      ),
    ),
    a.release(lock),
  );
  return a.scope(
    "_SB",
    a.device(
      pres,
      a.nameDecl("_HID", a.eisaId("PNP0A06")),
      a.nameDecl("_UID", a.string("CPU Hotplug resources")),
      a.mutex("CPLK", 0),
      a.nameDecl("_CRS", a.resourceTemplate(a.io(CPU_HOTPLUG_BASE, CPU_HOTPLUG_BASE, 1, CPU_HOTPLUG_LENGTH))),
      a.operationRegion("PRST", a.RegionSpace.SystemIO, a.int(CPU_HOTPLUG_BASE), CPU_HOTPLUG_LENGTH),
      a.field(
        "PRST",
        a.FieldAccess.Byte,
        false,
        a.FieldUpdate.WriteAsZeros,
        a.reservedField(32),
        a.namedField("CPEN", 1),
        a.namedField("CINS", 1),
        a.namedField("CRMV", 1),
        a.namedField("CEJ0", 1),
        a.namedField("CEJF", 1),
        a.reservedField(3),
        a.namedField("CCMD", 8),
      ),
      a.field(
        "PRST",
        a.FieldAccess.DWord,
        false,
        a.FieldUpdate.Preserve,
        a.namedField("CSEL", 32),
        a.reservedField(32),
        a.namedField("CDAT", 32),
      ),
      a.method("_INI", 0, true, a.store(ZERO, a.name("CSEL"))),
    ),
    a.device(
      "\\_SB.CPUS",
      a.nameDecl("_HID", a.string("ACPI0010")),
      a.nameDecl("_CID", a.eisaId("PNP0A05")),
      a.method("CTFY", 2, false, a.ifThen(a.equal(A(0), ZERO), a.notify(a.name("C000"), A(1)))),
      a.method(
        "CSTA",
        1,
        true,
        ...locked(a.store(A(0), reg("CSEL")), a.store(ZERO, L(0)), a.ifThen(a.equal(reg("CPEN"), ONE), a.store(a.int(0x0f), L(0)))),
        a.returnValue(L(0)),
      ),
      a.method("CEJ0", 1, true, ...locked(a.store(A(0), reg("CSEL")), a.store(ONE, reg("CEJ0")))),
      cscn,
      a.method(
        "COST",
        4,
        true,
        ...locked(
          a.store(A(0), reg("CSEL")),
          a.store(ONE, reg("CCMD")),
          a.store(A(1), reg("CDAT")),
          a.store(a.int(2), reg("CCMD")),
          a.store(A(2), reg("CDAT")),
        ),
      ),
      a.processor(
        0,
        0,
        0,
        "C000",
        a.method("_STA", 0, true, a.returnValue(a.call("CSTA", ZERO))),
        a.nameDecl("_MAT", a.buffer([0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00])), // MADT entry: local APIC 0, enabled
        a.method("_OST", 3, true, a.call("COST", ZERO, A(0), A(1), A(2))),
      ),
    ),
  );
}

/** PCI0's windows: bus numbers, the config ports, I/O around them, VGA memory, the 32-bit hole below the I/O APIC, the 64-bit hole. */
function rootBusResources(config: PcAcpiConfig): Aml {
  const hole64 = pciHole64(config);
  return a.resourceTemplate(
    a.wordBusNumber(0, 0xff),
    a.io(0xcf8, 0xcf8, 1, 8),
    a.wordIo(0, 0xcf7),
    a.wordIo(0xd00, 0xffff),
    a.dwordMemory(a.Cacheable.Yes, 0xa0000, 0xbffff),
    a.dwordMemory(a.Cacheable.No, config.below4g, IO_APIC - 1),
    a.qwordMemory(a.Cacheable.Yes, hole64.start, hole64.end - 1n),
  );
}

const GIB = 1n << 30n;
const roundUp = (v: bigint, to: bigint): bigint => ((v + to - 1n) / to) * to;

/** QEMU's 64-bit PCI hole with no 64-bit BAR placed: from the end of RAM above 4 GiB (GiB-aligned), pci-hole64-size long. */
export function pciHole64(config: PcAcpiConfig): { start: bigint; end: bigint } {
  const start = roundUp((1n << 32n) + BigInt(config.above4g), GIB);
  return { start, end: roundUp(start + BigInt(config.pciHole64Size), GIB) };
}

function resourceDevice(name: string, uid: string, base: number, length: number): Aml {
  return a.device(
    name,
    a.nameDecl("_HID", a.string("PNP0A06")),
    a.nameDecl("_UID", a.string(uid)),
    a.nameDecl("_STA", a.int(0x0b)),
    a.nameDecl("_CRS", a.resourceTemplate(a.io(base, base, 1, length))),
  );
}

const slotName = (devfn: number): string => `S${devfn.toString(16).toUpperCase().padStart(2, "0")}`;

/** _DSM of every described function: PDSM with the bus's BSEL and the slot (ASUN). */
const deviceDsm = (): Aml =>
  a.method(
    "_DSM",
    4,
    true,
    a.store(a.packageOf(a.name("BSEL"), a.name("ASUN")), L(0)),
    a.returnValue(a.call("PDSM", A(0), A(1), A(2), A(3), L(0))),
  );

/**
 * One bus's objects (QEMU 7.2's build_append_pci_bus_devices): BSEL, then per devfn a device
 * for each present function 0 (and cold-plugged bridges) and each empty slot; hotpluggable ones
 * get _SUN and _EJ0 and a line in DVNT; a cold-plugged bridge's bus nests inside its device.
 * PCNT tells the guest about this bus's hotplug events and its bridges'.
 */
function busDevices(bus: AcpiBus, config: PcAcpiConfig): Aml[] {
  const out: Aml[] = [a.nameDecl("BSEL", a.int(bus.bsel))];
  const notify: Aml[] = [];
  for (let devfn = 0; devfn < 256; devfn++) {
    const fn = bus.functions.get(devfn);
    const slot = devfn >> 3;
    if (fn ? (devfn & 7) !== 0 && !fn.bridge : (devfn & 7) !== 0) continue;
    const hotpluggable = !fn || (fn.hotpluggable && !fn.bridge);
    const body: Aml[] = [a.nameDecl("_ADR", a.int((slot << 16) | (devfn & 7))), a.nameDecl("ASUN", a.int(slot)), deviceDsm()];
    if (fn?.isaBridge) body.push(...isaBridgeAml(config));
    if (hotpluggable) {
      body.push(a.nameDecl("_SUN", a.int(slot)), a.method("_EJ0", 1, false, a.call("PCEJ", a.name("BSEL"), a.name("_SUN"))));
      notify.push(a.ifThen(a.and(A(0), a.int(2 ** slot)), a.notify(a.name(slotName(slot << 3)), A(1))));
    }
    if (fn?.bridge) body.push(...busDevices(fn.bridge, config));
    out.push(a.device(slotName(devfn), ...body));
  }
  out.push(a.method("DVNT", 2, false, ...notify));
  out.push(
    a.method(
      "PCNT",
      0,
      false,
      a.store(a.int(bus.bsel), a.name("BNUM")),
      a.call("DVNT", a.name("PCIU"), ONE),
      a.call("DVNT", a.name("PCID"), a.int(3)),
      ...bus.bridgeOrder.map((devfn) => a.call(`^${slotName(devfn)}.PCNT`)),
    ),
  );
  return out;
}

/** PIIX3's ISA bridge (01.0): the PIRQ routing registers as fields, and the ISA devices (QEMU's order: newest first). */
function isaBridgeAml(config: PcAcpiConfig): Aml[] {
  const sta = a.nameDecl("_STA", a.int(0x0f));
  const isa: Aml[] = [
    a.device(
      "KBD",
      a.nameDecl("_HID", a.eisaId("PNP0303")),
      sta,
      a.nameDecl("_CRS", a.resourceTemplate(a.io(0x60, 0x60, 1, 1), a.io(0x64, 0x64, 1, 1), a.irqNoFlags(1))),
    ),
    a.device("MOU", a.nameDecl("_HID", a.eisaId("PNP0F13")), sta, a.nameDecl("_CRS", a.resourceTemplate(a.irqNoFlags(12)))),
    a.device(
      "FDC0",
      a.nameDecl("_HID", a.eisaId("PNP0700")),
      a.nameDecl("_CRS", a.resourceTemplate(a.io(0x3f2, 0x3f2, 0, 4), a.io(0x3f7, 0x3f7, 0, 1), a.irqNoFlags(6), a.dma(2))),
      // _FDE: no drives (A-D "not present"), then the 2 that means "no tape"
      a.nameDecl("_FDE", a.buffer([...new Array<number>(16).fill(0), 2, 0, 0, 0])),
    ),
  ];
  if (config.serial) {
    isa.push(
      a.device(
        "COM1",
        a.nameDecl("_HID", a.eisaId("PNP0501")),
        a.nameDecl("_UID", ONE),
        sta,
        a.nameDecl("_CRS", a.resourceTemplate(a.io(0x3f8, 0x3f8, 0, 8), a.irqNoFlags(4))),
      ),
    );
  }
  isa.push(
    a.device(
      "RTC",
      a.nameDecl("_HID", a.eisaId("PNP0B00")),
      a.nameDecl("_CRS", a.resourceTemplate(a.io(0x70, 0x70, 1, 8), a.irqNoFlags(8))),
    ),
  );
  return [
    a.operationRegion("P40C", a.RegionSpace.PciConfig, a.int(0x60), 0x04),
    a.scope(
      "\\_SB",
      a.field(
        "PCI0.S08.P40C",
        a.FieldAccess.Byte,
        false,
        a.FieldUpdate.Preserve,
        a.namedField("PRQ0", 8),
        a.namedField("PRQ1", 8),
        a.namedField("PRQ2", 8),
        a.namedField("PRQ3", 8),
      ),
    ),
    ...isa,
  ];
}
