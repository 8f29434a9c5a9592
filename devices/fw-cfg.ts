import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { IsaDevice, type IsaDeviceProps } from "../src/isa/device.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { isaDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import type { MachineClassFields, RamLayout } from "../src/machine/machine-type.js";
import { linuxBootItems, LINUXBOOT_BOOT_PATH, type LinuxBoot, type LinuxBootItems } from "../src/machine/linux-boot.js";
import { DEVICE_PROPS, IO_SPACE, LINUX_BOOT, MACHINE, MACHINE_CLASS, RAM_LAYOUT } from "../src/machine/tokens.js";
import type { Machine } from "../src/machine/machine.js";
import { ACPI_LOADER_SIZE, ACPI_RSDP, ACPI_TABLE_LOADER, ACPI_TABLES, ACPI_TABLES_SIZE, type AcpiFiles } from "../src/acpi/pc-tables.js";
import { describeState, u16, u32 } from "../src/state/description.js";

const FW_CFG_IO_BASE = 0x510; // 16-bit selector; the data byte is at 0x511

// Item keys (QEMU's docs/specs/fw_cfg.rst and include/standard-headers/linux/qemu_fw_cfg.h).
const FW_CFG_SIGNATURE = 0x00;
const FW_CFG_ID = 0x01;
const FW_CFG_UUID = 0x02;
const FW_CFG_RAM_SIZE = 0x03;
const FW_CFG_NOGRAPHIC = 0x04;
const FW_CFG_NB_CPUS = 0x05;
const FW_CFG_NUMA = 0x0d;
const FW_CFG_BOOT_MENU = 0x0e;
const FW_CFG_MAX_CPUS = 0x0f;
const FW_CFG_FILE_DIR = 0x19;
const FW_CFG_FILE_FIRST = 0x20;
/** Keys with this bit live in a second, architecture-specific table: 0x8001 is not 0x0001. */
const FW_CFG_ARCH_LOCAL = 0x8000;
const FW_CFG_ENTRY_MASK = 0x3fff; // also drops the write-channel bit 0x4000
const FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0;
const FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1;
const FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2;
const FW_CFG_E820_TABLE = FW_CFG_ARCH_LOCAL + 3;
const FW_CFG_HPET = FW_CFG_ARCH_LOCAL + 4;

const FW_CFG_VERSION = 1; // the traditional port interface; bit 1 would announce DMA at 0x514
const E820_RAM = 1;
const E820_RESERVED = 2;
/** QEMU reserves AMD's HyperTransport hole for its default CPU (qemu64 reports AuthenticAMD, 40 physical bits). */
const AMD_HT_START = 0xfd_0000_0000n;
const AMD_HT_SIZE = 0x3_0000_0000n;
/**
 * Where a file goes in the directory with legacy_fw_cfg_order: QEMU's fixed ranks (fw_cfg_order[]
 * in hw/nvram/fw_cfg.c) for the files listed here; otherwise files are sorted by name.
 */
const LEGACY_FILE_ORDER = new Map<string, number>([
  ["etc/boot-fail-wait", 15],
  ["etc/e820", 40],
  ["genroms/linuxboot.bin", 60],
  ["etc/system-states", 90],
  ["etc/acpi/tables", 130],
  ["etc/table-loader", 140],
  ["etc/acpi/rsdp", 160],
  ["bootorder", 170],
]);
const LEGACY_ORDER_LAST = 200; // QEMU puts files it has no rank for at the end

/** QEMU's default number of file slots; keys past them read as unknown items. */
const FW_CFG_FILE_SLOTS = 0x20;

const properties = {
  dma_enabled: prop(types.bool, false, "DMA interface at 0x514 (QEMU's default is on; machbus does not model it, so only off is accepted)"),
  // Through the I/O interface a key past the slots reads exactly like an empty item, and
  // acpi-mr-restore is migration bookkeeping: both are listed, as in QEMU, and change nothing.
  "x-file-slots": prop(types.uint16, FW_CFG_FILE_SLOTS, "number of file slots (keys past them read as empty items, as free slots do)", {
    guestVisible: false,
  }),
  "acpi-mr-restore": prop(types.bool, true, "restores ACPI table sizes on migration (no effect here)", { guestVisible: false }),
};

/** The selector and the read position in the selected item. */
interface FwCfgSelection {
  /** The key last written to the selector, as QEMU's cur_entry (0xffff reads as nothing). */
  key: number;
  offset: number;
}

const FW_CFG_STATE = describeState<FwCfgSelection>({ name: "fw_cfg", version: 1, fields: [u16("key"), u32("offset")] });

/**
 * QEMU's firmware configuration device on its I/O interface (fw_cfg_io), as the pc board creates
 * it: writing a 16-bit key to 0x510 selects an item, and byte reads of 0x511 (or 0x510) return
 * its bytes in order, then zeros. Items are what QEMU 7.2 gives `-M pc -nodefaults -m SIZE` that
 * firmware reads while it sets up the machine: signature, ID, RAM size, CPU counts, and a file
 * directory holding `etc/e820` (the board's RAM layout) and, on machine types for which QEMU
 * builds ACPI tables, `etc/table-loader`. On a board that builds them (Board.acpiTables, pc)
 * the loader, `etc/acpi/tables` and `etc/acpi/rsdp` hold QEMU's tables: sized on the first access
 * after a reset, and built again from the machine as it is then when the firmware first selects one
 * of them, as QEMU's acpi_build_update does (the PM base SeaBIOS set lands in the FADT).
 * Elsewhere the loader is present but empty: its presence makes SeaBIOS move the ACPI PM base
 * to 0x600, as on QEMU, and SeaBIOS builds its own tables. With a kernel
 * (MachineOptions.linuxBoot) it also has QEMU's -kernel items and genroms/linuxboot.bin
 * (src/machine/linux-boot.ts).
 */
@isaDriver({
  name: "fw_cfg_io",
  description: "QEMU firmware configuration interface (I/O ports 0x510-0x511)",
  category: "misc",
  properties,
  parents: ["fw_cfg"],
  userCreatable: false,
})
export class FwCfgIo extends IsaDevice {
  /** Item bytes by key (arch-local keys keep their 0x8000 bit). */
  private readonly items = new Map<number, Uint8Array>();
  /** The named files, directory order aside. */
  private readonly files: [string, Uint8Array][];
  private readonly legacyOrder: boolean;
  private readonly maxEntry: number;
  private readonly selection: FwCfgSelection = { key: FW_CFG_SIGNATURE, offset: 0 };
  private current: Uint8Array | null = null;
  /** The ACPI files' keys once the directory is sorted, and whether they were built since reset. */
  private acpiKeys = new Set<number>();
  private acpiBuilt = false;
  /** Whether the ACPI files have their sizes for this machine (QEMU sizes them when the machine is complete). */
  private acpiSized = false;

  // The combined selector/data block. Valid on QEMU: byte reads and writes, and 16-bit writes
  // (select); any other access, also one running past 0x511, reads 0 and writes nothing.
  private readonly region = new Region(
    "fwcfg",
    2,
    {
      read: (_offset, size) => (size === 1 ? this.readByte() : 0),
      write: (_offset, size, value) => {
        if (size === 2) this.select(value);
        // A byte write was the old write channel, removed in QEMU 2.4: ignored.
      },
    },
    { owner: "fw_cfg_io" },
  );

  constructor(
    @inject(DEVICE_PROPS) props: IsaDeviceProps<typeof properties>,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(RAM_LAYOUT) ram: RamLayout,
    @inject(MACHINE_CLASS) machineClass: MachineClassFields,
    @inject(LINUX_BOOT) { boot: linuxBoot }: { readonly boot: LinuxBoot | null },
    @inject(MACHINE) private readonly machine: Machine,
  ) {
    super(props);
    if (props.dma_enabled) {
      throw new MachbusError("bad-property-value", "fw_cfg_io: the DMA interface is not modelled (use dma_enabled=off)");
    }
    this.maxEntry = FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS;
    this.add(FW_CFG_SIGNATURE, ascii("QEMU"));
    this.add(FW_CFG_ID, le(FW_CFG_VERSION, 4));
    this.add(FW_CFG_UUID, new Uint8Array(16));
    this.add(FW_CFG_NOGRAPHIC, le(0, 2));
    this.add(FW_CFG_BOOT_MENU, le(0, 2));
    // machbus boards have one CPU; QEMU's MAX_CPUS on x86 is the APIC ID limit, also 1.
    this.add(FW_CFG_NB_CPUS, le(1, 2));
    this.add(FW_CFG_MAX_CPUS, le(1, 2));
    this.add(FW_CFG_RAM_SIZE, le(ram.size, 8));
    this.add(FW_CFG_ACPI_TABLES, new Uint8Array(0));
    this.add(FW_CFG_SMBIOS_ENTRIES, new Uint8Array(0));
    this.add(FW_CFG_IRQ0_OVERRIDE, le(1, 4));
    this.add(FW_CFG_E820_TABLE, new Uint8Array(4 + 16 * 20)); // reservations only: none
    this.add(FW_CFG_HPET, new Uint8Array(1 + 8 * 15)); // no HPET is modelled: count 0
    this.add(FW_CFG_NUMA, new Uint8Array(8 * 2)); // no nodes; one CPU-to-node slot
    const files = pcFiles(ram, machineClass);
    if (this.buildsAcpi) {
      const loader = files.findIndex(([name]) => name === ACPI_TABLE_LOADER);
      files[loader] = [ACPI_TABLE_LOADER, new Uint8Array(ACPI_LOADER_SIZE)];
      files.push([ACPI_TABLES, new Uint8Array(ACPI_TABLES_SIZE)], [ACPI_RSDP, new Uint8Array(20)]);
    }
    if (linuxBoot) this.addLinuxBoot(linuxBootItems(linuxBoot, ram, machineClass), files);
    this.files = files;
    this.legacyOrder = machineClass.legacyFwCfgOrder;
    this.addFileItems();
    this.keepState(FW_CFG_STATE, this.selection);
  }

  /** The loaded key selects its item again; the loaded offset stays. */
  override stateLoaded(): void {
    this.current = this.item(this.selection.key);
  }

  plugged(): void {
    this.io.map(this.region, FW_CFG_IO_BASE);
  }

  unplugging(): void {
    this.io.unmap(this.region);
  }

  override reset(): void {
    this.acpiSized = false;
    this.acpiBuilt = false;
    this.select(FW_CFG_SIGNATURE);
  }

  private get buildsAcpi(): boolean {
    const { machineClass, board } = this.machine.type;
    return machineClass.acpiBuild && machineClass.qemuAcpiTables && board.acpiTables !== undefined;
  }

  private setAcpiFiles(acpi: AcpiFiles): void {
    const replace = (name: string, data: Uint8Array): void => {
      this.files[this.files.findIndex(([n]) => n === name)] = [name, data];
    };
    replace(ACPI_TABLE_LOADER, acpi.tableLoader);
    replace(ACPI_TABLES, acpi.tables);
    replace(ACPI_RSDP, acpi.rsdp);
    this.addFileItems();
  }

  private add(key: number, data: Uint8Array): void {
    this.items.set(key, data);
  }

  /**
   * A file a board chip serves through fw_cfg (QEMU's fw_cfg_add_file: ICH9's etc/smi/*). The
   * directory stays sorted, so the keys of later files move, as on QEMU.
   */
  addFile(name: string, data: Uint8Array): void {
    this.files.push([name, data]);
    this.addFileItems();
  }

  /** -kernel: the kernel items, the linuxboot option ROM as a file, and that ROM first in bootorder (QEMU's bootindex 0). */
  private addLinuxBoot(boot: LinuxBootItems, files: [string, Uint8Array][]): void {
    for (const [key, data] of boot.items) this.add(key, data);
    files.push(...boot.files.map(([name, data]): [string, Uint8Array] => [name, data]));
    const bootorder = files.findIndex(([name]) => name === "bootorder");
    files[bootorder] = ["bootorder", ascii(LINUXBOOT_BOOT_PATH + "\0")];
  }

  /** The directory (big-endian, sorted by name or in legacy order, as QEMU keeps it) and the files at 0x20 on. */
  private addFileItems(): void {
    const legacyOrder = this.legacyOrder;
    const sorted = [...this.files].sort(([a], [b]) => (legacyOrder ? legacyRank(a) - legacyRank(b) : a < b ? -1 : a > b ? 1 : 0));
    const dir = new Uint8Array(4 + 64 * sorted.length);
    const acpi = this.buildsAcpi;
    this.acpiKeys = new Set(sorted.flatMap(([name], i) => (acpi && ACPI_FILE_NAMES.has(name) ? [FW_CFG_FILE_FIRST + i] : [])));
    const view = new DataView(dir.buffer);
    view.setUint32(0, sorted.length);
    sorted.forEach(([name, data], i) => {
      const entry = 4 + 64 * i;
      view.setUint32(entry, data.length);
      view.setUint16(entry + 4, FW_CFG_FILE_FIRST + i);
      dir.set(ascii(name), entry + 8);
      this.add(FW_CFG_FILE_FIRST + i, data);
    });
    this.add(FW_CFG_FILE_DIR, dir);
  }

  private select(key: number): void {
    // Sized on the first access after reset (so building a machine costs nothing), built again on
    // the first read of one of the files
    if (!this.acpiSized && this.buildsAcpi && key !== FW_CFG_SIGNATURE) {
      this.acpiSized = true;
      this.setAcpiFiles(this.machine.type.board.acpiTables!(this.machine));
    }
    if (!this.acpiBuilt && this.acpiKeys.has(key & FW_CFG_ENTRY_MASK)) {
      this.acpiBuilt = true;
      this.setAcpiFiles(this.machine.type.board.acpiTables!(this.machine));
    }
    this.selection.key = key;
    this.current = this.item(key);
    this.selection.offset = 0;
  }

  /** The item a key selects, or null (an unknown key, or one past the file slots). */
  private item(key: number): Uint8Array | null {
    const index = key & FW_CFG_ENTRY_MASK;
    return index < this.maxEntry ? (this.items.get((key & FW_CFG_ARCH_LOCAL) | index) ?? null) : null;
  }

  private readByte(): number {
    const data = this.current;
    return data && this.selection.offset < data.length ? data[this.selection.offset++]! : 0;
  }
}

/**
 * The files QEMU 7.2's pc machine lists that firmware uses while it sets up this board, as the
 * machine type has them: the ACPI table loader only where QEMU builds ACPI tables, and
 * bios-geometry (added at reset) not with the legacy file order.
 */
function pcFiles(ram: RamLayout, machineClass: MachineClassFields): [string, Uint8Array][] {
  const files: [string, Uint8Array][] = [
    ["bootorder", new Uint8Array(0)],
    ["etc/boot-fail-wait", le(0xffffffff, 4)], // no reboot after a failed boot
    ["etc/e820", e820(ram, machineClass.amd1tbHole)],
    ["etc/system-states", Uint8Array.of(0x80, 0x00, 0x00, 0x81, 0x82, 0x80)], // PIIX4 PM: S3 off, S4 off
  ];
  if (!machineClass.legacyFwCfgOrder) files.push(["bios-geometry", new Uint8Array(0)]);
  if (machineClass.acpiBuild) files.push(["etc/table-loader", new Uint8Array(0)]);
  return files;
}

/** QEMU's e820 table for pc: the HyperTransport reservation first (where the type has it), then RAM below and above 4 GiB. */
function e820(ram: RamLayout, amd1tbHole: boolean): Uint8Array {
  const entries: [bigint, bigint, number][] = [];
  if (amd1tbHole) entries.push([AMD_HT_START, AMD_HT_SIZE, E820_RESERVED]);
  entries.push([0n, BigInt(ram.below4g), E820_RAM]);
  if (ram.above4g > 0) entries.push([1n << 32n, BigInt(ram.above4g), E820_RAM]);
  const out = new Uint8Array(20 * entries.length);
  const view = new DataView(out.buffer);
  entries.forEach(([address, length, type], i) => {
    view.setBigUint64(20 * i, address, true);
    view.setBigUint64(20 * i + 8, length, true);
    view.setUint32(20 * i + 16, type, true);
  });
  return out;
}

const ACPI_FILE_NAMES = new Set([ACPI_TABLE_LOADER, ACPI_TABLES, ACPI_RSDP]);

const legacyRank = (name: string): number => LEGACY_FILE_ORDER.get(name) ?? LEGACY_ORDER_LAST;

/** `value` as a little-endian integer of `bytes` bytes (QEMU's fw_cfg_add_i16/i32/i64). */
function le(value: number, bytes: 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out.slice(0, bytes);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
