import { LinkerScript, Zone } from "./linker.js";
import { GPE0_BLOCK, GPE0_LENGTH, pcDsdtBody } from "./pc-dsdt.js";
import type { PcAcpiConfig } from "./pc-config.js";

export type { PcAcpiConfig, AcpiBus, AcpiFunction } from "./pc-config.js";

/** The fw_cfg files through which QEMU hands its ACPI tables to the firmware. */
export const ACPI_TABLE_LOADER = "etc/table-loader";
export const ACPI_TABLES = "etc/acpi/tables";
export const ACPI_RSDP = "etc/acpi/rsdp";

/** QEMU pads the tables blob and the loader script to these sizes (ACPI_BUILD_TABLE_SIZE, ACPI_BUILD_ALIGN_SIZE). */
export const ACPI_TABLES_SIZE = 0x20000;
export const ACPI_LOADER_SIZE = 0x1000;
export const ACPI_RSDP_SIZE = 20;

export interface AcpiFiles {
  tableLoader: Uint8Array;
  tables: Uint8Array;
  rsdp: Uint8Array;
}

const HEADER = 36;
const SCI_IRQ = 9;
const APM_CNT_PORT = 0xb2;
const ACPI_ENABLE = 0xf1;
const ACPI_DISABLE = 0xf0;
const LOCAL_APIC = 0xfee00000;
const IO_APIC = 0xfec00000;
const HPET_BASE = 0xfed00000;
/** Intel's HPET capabilities as QEMU reports them: 3 timers, 64-bit counter, legacy routing, vendor 8086. */
const HPET_BLOCK_ID = 0x8086a201;
const RTC_CENTURY = 0x32;

/** A table under construction in the blob: its bytes, and fields written little-endian. */
class Table {
  readonly bytes: number[] = [];
  constructor(
    readonly signature: string,
    readonly revision: number,
  ) {}
  u8(...values: number[]): this {
    this.bytes.push(...values.map((v) => v & 0xff));
    return this;
  }
  u16(v: number): this {
    return this.u8(v, v >> 8);
  }
  u32(v: number): this {
    return this.u8(v, v >> 8, v >> 16, v >>> 24);
  }
  u64(v: number): this {
    return this.u32(v).u32(Math.floor(v / 2 ** 32));
  }
  raw(data: Uint8Array): this {
    for (const b of data) this.bytes.push(b);
    return this;
  }
}

/** The blob being laid out: tables appended in order, with the loader commands that link them. */
class TableBlob {
  readonly data: number[] = [];
  readonly linker = new LinkerScript();

  /** Appends a table with QEMU's header (OEM BOCHS/BXPC) and returns where it starts. */
  add(table: Table, pointers: readonly number[] = []): number {
    const at = this.data.length;
    const length = HEADER + table.bytes.length;
    const header = [
      ...ascii(table.signature),
      ...le32(length),
      table.revision,
      0,
      ...ascii("BOCHS "),
      ...ascii("BXPC    "),
      ...le32(1),
      ...ascii("BXPC"),
      ...le32(1),
    ];
    this.data.push(...header, ...table.bytes);
    for (const offset of pointers) this.linker.addPointer(ACPI_TABLES, at + offset, 4, ACPI_TABLES);
    this.linker.addChecksum(ACPI_TABLES, at + 9, at, length);
    return at;
  }
}

/**
 * QEMU 7.2's ACPI tables for `pc` (acpi_build for i440FX/PIIX4): FACS, DSDT, FACP, APIC,
 * HPET, WAET and the RSDT in the tables blob, the RSDP in its own F-segment blob, and the
 * loader script that places and links them, byte for byte as QEMU serves them through fw_cfg.
 */
export function buildPcAcpiTables(config: PcAcpiConfig): AcpiFiles {
  const blob = new TableBlob();
  const { linker, data } = blob;
  linker.allocate(ACPI_RSDP, 16, Zone.FSeg);
  linker.allocate(ACPI_TABLES, 64, Zone.High);

  // FACS: no header checksum, 64-byte aligned at the start of the blob
  const facs = data.length;
  data.push(...ascii("FACS"), ...le32(64), ...new Array<number>(56).fill(0));

  const dsdtBody = pcDsdtBody(config);
  const dsdt = blob.add(new Table("DSDT", 1).raw(dsdtBody));

  const pm = config.pmBase;
  const facp = new Table("FACP", 1)
    .u32(facs)
    .u32(dsdt)
    .u8(1, 0) // INT_MODEL (ACPI 1.0), no preferred PM profile
    .u16(SCI_IRQ)
    .u32(APM_CNT_PORT)
    .u8(ACPI_ENABLE, ACPI_DISABLE, 0, 0)
    .u32(pm) // PM1a event
    .u32(0)
    .u32(pm + 4) // PM1a control
    .u32(0)
    .u32(0)
    .u32(pm + 8) // PM timer
    .u32(GPE0_BLOCK)
    .u32(0)
    .u8(4, 2, 0, 4, GPE0_LENGTH, 0, 0, 0)
    .u16(0x0fff) // C2 latency: no C2
    .u16(0x0fff) // C3 latency: no C3
    .u16(0)
    .u16(0)
    .u8(0, 0, 0, 0, RTC_CENTURY)
    .u16(0) // IA-PC boot architecture flags (FADT 1.0: reserved)
    .u8(0)
    .u32(FACP_FLAGS);
  const facpAt = blob.add(facp, [36, 40]);

  const apic = new Table("APIC", 1)
    .u32(LOCAL_APIC)
    .u32(1) // PCAT_COMPAT: dual 8259s
    .u8(0, 8, 0, 0)
    .u32(1) // processor 0, APIC 0, enabled
    .u8(1, 12, 0, 0)
    .u32(IO_APIC)
    .u32(0); // I/O APIC 0 at GSI 0
  // IRQ 0 is the I/O APIC's pin 2; the PCI link IRQs and the SCI are level, active high
  apic.u8(2, 10, 0, 0).u32(2).u16(0);
  for (const irq of [5, 9, 10, 11]) apic.u8(2, 10, 0, irq).u32(irq).u16(0x0d);
  apic.u8(4, 6, 0xff).u16(0).u8(1); // local APIC NMI on LINT1 of every processor
  const apicAt = blob.add(apic);

  const tables = [facpAt, apicAt];
  if (config.hpet) {
    const hpet = new Table("HPET", 1).u32(HPET_BLOCK_ID).u8(0, 0, 0, 0).u64(HPET_BASE).u8(0).u16(0).u8(0);
    tables.push(blob.add(hpet));
  }
  tables.push(blob.add(new Table("WAET", 1).u32(2))); // the PM timer reads reliably with one access

  const rsdt = new Table("RSDT", 1);
  for (const at of tables) rsdt.u32(at);
  const rsdtAt = blob.add(
    rsdt,
    tables.map((_, i) => HEADER + 4 * i),
  );

  const rsdp = new Uint8Array(ACPI_RSDP_SIZE);
  rsdp.set(ascii("RSD PTR "), 0);
  rsdp.set(ascii("BOCHS "), 9);
  new DataView(rsdp.buffer).setUint32(16, rsdtAt, true);
  linker.addPointer(ACPI_RSDP, 16, 4, ACPI_TABLES);
  linker.addChecksum(ACPI_RSDP, 8, 0, ACPI_RSDP_SIZE);

  // QEMU rounds the blob up to a multiple of its table size
  const tablesBlob = new Uint8Array(Math.max(1, Math.ceil(data.length / ACPI_TABLES_SIZE)) * ACPI_TABLES_SIZE);
  tablesBlob.set(data);
  return { tableLoader: linker.bytes(ACPI_LOADER_SIZE), tables: tablesBlob, rsdp };
}

/** FADT flags: WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP... as QEMU sets them for pc. */
const FACP_FLAGS = 0x80a5;

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const le32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
