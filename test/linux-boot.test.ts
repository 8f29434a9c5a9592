import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Machine, isMachbusError } from "../src/index.js";
import { LINUXBOOT_ROM } from "../src/cli/boot.js";
import {
  FW_CFG_CMDLINE_ADDR,
  FW_CFG_CMDLINE_SIZE,
  FW_CFG_INITRD_ADDR,
  FW_CFG_INITRD_SIZE,
  FW_CFG_KERNEL_ADDR,
  FW_CFG_KERNEL_SIZE,
  FW_CFG_SETUP_ADDR,
  FW_CFG_SETUP_SIZE,
} from "../src/machine/linux-boot.js";
import { machbus } from "./support/cli.js";
import { fwCfgDirectory, fwCfgItem } from "./support/fw-cfg.js";
import { locateLinuxGuest } from "./support/linux-guest.js";

/**
 * `-kernel/-initrd/-append` as QEMU 7.2's x86_load_linux prepares them: the fw_cfg kernel items
 * firmware reads through the ports equal what QEMU served for the same kernel, initrd and
 * command line (test/fixtures/linux/fw-cfg.json, read from QEMU at -S).
 */
interface FwCfgCase {
  name: string;
  machine: string;
  memory: string;
  initrd: boolean;
  append?: string;
  items: Record<string, number>;
  cmdlineHex: string;
  header: { from: number; hex: string };
  kernelDataHead: string;
  files: { name: string; size: number; sha256?: string; text?: string }[];
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/linux/fw-cfg.json", import.meta.url), "utf8")) as {
  linuxbootRomSha256: string;
  cases: FwCfgCase[];
};
const guest = locateLinuxGuest();
// The kernel items' keys (QEMU's qemu_fw_cfg.h), by the fixture's names.
const KEYS: Record<string, number> = {
  kernelAddr: FW_CFG_KERNEL_ADDR,
  kernelSize: FW_CFG_KERNEL_SIZE,
  initrdAddr: FW_CFG_INITRD_ADDR,
  initrdSize: FW_CFG_INITRD_SIZE,
  cmdlineAddr: FW_CFG_CMDLINE_ADDR,
  cmdlineSize: FW_CFG_CMDLINE_SIZE,
  setupAddr: FW_CFG_SETUP_ADDR,
  setupSize: FW_CFG_SETUP_SIZE,
};

/** An fw_cfg item's first bytes, as a Buffer. */
const fwCfgBytes = (m: Machine, key: number, length: number): Buffer => Buffer.from(fwCfgItem(m, key, length));

const memory = (qemu: string): string => (/^\d+$/.test(qemu) ? `${qemu}M` : qemu);

describe("fw_cfg hands a kernel to firmware as QEMU 7.2's -kernel does (fixtures/linux/fw-cfg.json)", () => {
  const rom = readFileSync(LINUXBOOT_ROM);

  it("serves Debian's linuxboot.bin, the ROM QEMU served", () => {
    expect(createHash("sha256").update(rom).digest("hex")).toBe(fixture.linuxbootRomSha256);
  });

  for (const c of fixture.cases) {
    it(`${c.name}: the kernel items, the patched boot header, bootorder and the ROM's place in the file directory`, () => {
      expect(guest, "no Linux guest in the cache: run node test/setup/linux-guest.mjs").not.toBeNull();
      const m = Machine.create({
        machine: c.machine,
        memory: memory(c.memory),
        linuxBoot: {
          kernel: readFileSync(guest!.kernel.path),
          initrd: c.initrd ? readFileSync(guest!.initrd.path) : undefined,
          cmdline: c.append,
          optionRom: rom,
        },
      });
      const items = Object.fromEntries(Object.entries(KEYS).map(([name, key]) => [name, fwCfgBytes(m, key, 4).readUInt32LE(0)]));
      expect(items).toEqual(c.items);
      expect(fwCfgBytes(m, 0x15, c.items.cmdlineSize!).toString("hex")).toBe(c.cmdlineHex);
      expect(fwCfgBytes(m, 0x18, 0x280).subarray(c.header.from).toString("hex")).toBe(c.header.hex);
      expect(fwCfgBytes(m, 0x11, 64).toString("hex")).toBe(c.kernelDataHead);
      // Files: machbus lists a subset of QEMU's (no ACPI, SMBIOS, vapic ROM...), in QEMU's order.
      const ours = fwCfgDirectory(m);
      const theirs = c.files.filter((f) => ours.some((o) => o.name === f.name));
      expect(ours.map((f) => f.name)).toEqual(theirs.map((f) => f.name));
      const bootorder = ours.find((f) => f.name === "bootorder")!;
      expect(fwCfgBytes(m, bootorder.select, bootorder.size).toString("latin1")).toBe(c.files.find((f) => f.name === "bootorder")!.text);
      const romFile = ours.find((f) => f.name === "genroms/linuxboot.bin")!;
      expect(
        createHash("sha256")
          .update(fwCfgBytes(m, romFile.select, romFile.size))
          .digest("hex"),
      ).toBe(c.files.find((f) => f.name === "genroms/linuxboot.bin")!.sha256);
    });
  }

  it("refuses a file without a Linux boot header, and an initrd that does not fit below the ACPI area", () => {
    const create = (kernel: Uint8Array, initrd?: Uint8Array, mem = "128M"): unknown => {
      try {
        return Machine.create({ memory: mem, linuxBoot: { kernel, initrd, optionRom: rom } });
      } catch (e) {
        return isMachbusError(e) ? `${e.code}: ${e.message}` : e;
      }
    };
    expect(create(new Uint8Array(4096))).toBe(
      "kernel-invalid: the kernel (4096 bytes) is not a Linux bzImage: no 'HdrS' boot header at 0x202 (multiboot and ELF kernels are not supported)",
    );
    const kernel = readFileSync(guest!.kernel.path);
    // 8 MiB of RAM: QEMU's initrd_max is 8 MiB - 0x28000 (acpi_data_size) - 1, and the initrd must be smaller.
    expect(create(kernel, new Uint8Array(0x7d7fff), "8M")).toMatch(
      /^initrd-invalid: the initrd \(8224767 bytes\) is too large for this RAM layout/,
    );
    expect(create(kernel, new Uint8Array(0x7d7ffe), "8M")).toBeInstanceOf(Machine);
  });
});

describe("machbus boot --kernel: errors are one line", () => {
  it("names a missing kernel, a file that is no bzImage, an initrd too large, and --append without --kernel", () => {
    const missing = machbus(["boot", "-kernel", "/nonexistent/bzImage"]);
    expect([missing.status, missing.stderr]).toEqual([1, "machbus: kernel /nonexistent/bzImage: no such file or directory\n"]);
    const bios = machbus(["boot", "--kernel", "/usr/share/seabios/bios.bin"]);
    expect([bios.status, bios.stderr.split("\n").length]).toEqual([1, 2]);
    expect(bios.stderr).toMatch(
      /^machbus: boot: kernel \/usr\/share\/seabios\/bios.bin: the kernel \(131072 bytes\) is not a Linux bzImage/,
    );
    const big = machbus(["boot", "--kernel", guest!.kernel.path, "--initrd", guest!.initrd.path, "-m", "8M"]);
    expect([big.status, big.stderr.split("\n").length]).toEqual([1, 2]);
    expect(big.stderr).toMatch(/^machbus: boot: initrd \S+initramfs.cpio: the initrd \(\d+ bytes\) is too large for this RAM layout/);
    const append = machbus(["boot", "--firmware", "/usr/share/seabios/bios.bin", "-append", "quiet"]);
    expect([append.status, append.stderr]).toEqual([1, "machbus: boot: --append is only allowed with --kernel\n"]);
  });
});
