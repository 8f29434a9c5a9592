import { MachbusError } from "../errors.js";
import type { MachineClassFields, RamLayout } from "./machine-type.js";

/**
 * A Linux kernel handed to the guest as QEMU's -kernel/-initrd/-append do: through fw_cfg items
 * that QEMU's linuxboot option ROM (run by SeaBIOS) copies into RAM before it jumps to the
 * kernel's real-mode setup code.
 */
export interface LinuxBoot {
  /** A bzImage (or an older zImage with a 'HdrS' header). */
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array;
  /** The kernel command line (QEMU's -append); default empty. */
  readonly cmdline?: string;
  /**
   * QEMU's linuxboot.bin (Debian: /usr/share/qemu/linuxboot.bin), served as the fw_cfg file
   * genroms/linuxboot.bin. machbus's fw_cfg has no DMA interface, so it is the port-I/O ROM,
   * not linuxboot_dma.bin.
   */
  readonly optionRom: Uint8Array;
}

// fw_cfg keys of the kernel items (QEMU's include/standard-headers/linux/qemu_fw_cfg.h).
export const FW_CFG_KERNEL_ADDR = 0x07;
export const FW_CFG_KERNEL_SIZE = 0x08;
export const FW_CFG_INITRD_ADDR = 0x0a;
export const FW_CFG_INITRD_SIZE = 0x0b;
export const FW_CFG_KERNEL_DATA = 0x11;
export const FW_CFG_INITRD_DATA = 0x12;
export const FW_CFG_CMDLINE_ADDR = 0x13;
export const FW_CFG_CMDLINE_SIZE = 0x14;
export const FW_CFG_CMDLINE_DATA = 0x15;
export const FW_CFG_SETUP_ADDR = 0x16;
export const FW_CFG_SETUP_SIZE = 0x17;
export const FW_CFG_SETUP_DATA = 0x18;

/** The option ROM's fw_cfg file, and the boot entry QEMU gives it (bootindex 0). */
export const LINUXBOOT_ROM_FILE = "genroms/linuxboot.bin";
export const LINUXBOOT_BOOT_PATH = "/rom@genroms/linuxboot.bin";

/** QEMU reads this much of the file as the header it patches (x86_load_linux's header[8192]). */
const HEADER_BYTES = 8192;
const HDRS_MAGIC = 0x53726448; // "HdrS" at 0x202
const LOADED_HIGH = 0x01; // loadflags bit 0: protected-mode code at 0x100000
const CAN_USE_HEAP = 0x80;
const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 3;
const QEMU_LOADER_TYPE = 0xb0; // type_of_loader: high nibble B is QEMU's

export interface LinuxBootItems {
  /** fw_cfg items by key, in the order QEMU adds them. */
  readonly items: readonly (readonly [number, Uint8Array])[];
  /** fw_cfg files the boot adds: the option ROM. */
  readonly files: readonly (readonly [string, Uint8Array])[];
  /** Where each part lands in guest memory (as the option ROM is told). */
  readonly layout: { setup: number; kernel: number; cmdline: number; initrd: number | null };
}

/**
 * The fw_cfg items QEMU 7.2's x86_load_linux gives firmware for this kernel, initrd and
 * command line on a board with `ram` and `machineClass`: where setup, kernel, command line and
 * initrd go, and the kernel's setup sectors with the boot header patched as QEMU patches it
 * (loader type, heap end, command-line pointer, initrd address and size, vga=). Throws a
 * MachbusError for a file that is not a Linux kernel or an initrd that does not fit.
 */
export function linuxBootItems(boot: LinuxBoot, ram: RamLayout, machineClass: MachineClassFields): LinuxBootItems {
  const { kernel, initrd } = boot;
  const cmdline = boot.cmdline ?? "";
  const header = kernel.slice(0, HEADER_BYTES);
  const view = new DataView(header.buffer);
  if (kernel.length < 0x210 || view.getUint32(0x202, true) !== HDRS_MAGIC) {
    throw new MachbusError(
      "kernel-invalid",
      `the kernel (${kernel.length} bytes) is not a Linux bzImage: no 'HdrS' boot header at 0x202 (multiboot and ELF kernels are not supported)`,
    );
  }
  const protocol = view.getUint16(0x206, true);
  const cmdlineSize = (cmdline.length + 16) & ~15; // QEMU aligns it to 16 bytes "as a paranoia measure"
  let setupAddr: number, cmdlineAddr: number, kernelAddr: number;
  if (protocol < 0x200 || !(header[0x211]! & LOADED_HIGH)) {
    [setupAddr, cmdlineAddr, kernelAddr] = [0x90000, 0x9a000 - cmdlineSize, 0x10000]; // a low kernel
  } else if (protocol < 0x202) {
    [setupAddr, cmdlineAddr, kernelAddr] = [0x90000, 0x9a000 - cmdlineSize, 0x100000];
  } else {
    [setupAddr, cmdlineAddr, kernelAddr] = [0x10000, 0x20000, 0x100000];
  }

  // The highest address the initrd may end at: the kernel's limit, below the ACPI area at the top of low RAM.
  let initrdMax =
    protocol >= 0x20c && view.getUint16(0x236, true) & XLF_CAN_BE_LOADED_ABOVE_4G
      ? 0xffffffff
      : protocol >= 0x203
        ? view.getUint32(0x22c, true)
        : 0x37ffffff;
  const ramTop = ram.below4g - machineClass.acpiDataSize;
  if (initrdMax >= ramTop) initrdMax = ramTop - 1;

  const cmdlineBytes = new TextEncoder().encode(cmdline + "\0");
  const items: [number, Uint8Array][] = [
    [FW_CFG_CMDLINE_ADDR, le32(cmdlineAddr)],
    [FW_CFG_CMDLINE_SIZE, le32(cmdlineBytes.length)],
    [FW_CFG_CMDLINE_DATA, cmdlineBytes],
  ];
  if (protocol >= 0x202) view.setUint32(0x228, cmdlineAddr, true);
  else {
    view.setUint16(0x20, 0xa33f, true); // the old command-line magic and offset
    view.setUint16(0x22, cmdlineAddr - setupAddr, true);
  }
  const vga = videoMode(cmdline);
  if (vga !== null) view.setUint16(0x1fa, vga, true);
  if (protocol >= 0x200) header[0x210] = QEMU_LOADER_TYPE;
  if (protocol >= 0x201) {
    header[0x211]! |= CAN_USE_HEAP;
    view.setUint16(0x224, cmdlineAddr - setupAddr - 0x200, true);
  }

  let initrdAddr: number | null = null;
  if (initrd) {
    if (protocol < 0x200) throw new MachbusError("kernel-invalid", "the kernel is too old to load an initrd (boot protocol below 2.00)");
    if (initrd.length >= initrdMax) {
      throw new MachbusError(
        "initrd-invalid",
        `the initrd (${initrd.length} bytes) is too large for this RAM layout: it must be smaller than ${initrdMax} bytes ` +
          `(QEMU loads it to end below 0x${(initrdMax + 1).toString(16)}: the kernel's limit, or the ACPI area at the top of low RAM)`,
      );
    }
    initrdAddr = (initrdMax - initrd.length) & ~4095;
    items.push([FW_CFG_INITRD_ADDR, le32(initrdAddr)], [FW_CFG_INITRD_SIZE, le32(initrd.length)], [FW_CFG_INITRD_DATA, initrd]);
    view.setUint32(0x218, initrdAddr, true);
    view.setUint32(0x21c, initrd.length, true);
  }

  const setupSize = ((header[0x1f1] || 4) + 1) * 512;
  if (setupSize > kernel.length) {
    throw new MachbusError("kernel-invalid", `the kernel's header claims ${setupSize} bytes of setup code; the file has ${kernel.length}`);
  }
  const setup = kernel.slice(0, setupSize);
  setup.set(header.subarray(0, Math.min(HEADER_BYTES, setupSize)));
  const protectedMode = kernel.subarray(setupSize);
  items.push(
    [FW_CFG_KERNEL_ADDR, le32(kernelAddr)],
    [FW_CFG_KERNEL_SIZE, le32(protectedMode.length)],
    [FW_CFG_KERNEL_DATA, protectedMode],
    [FW_CFG_SETUP_ADDR, le32(setupAddr)],
    [FW_CFG_SETUP_SIZE, le32(setupSize)],
    [FW_CFG_SETUP_DATA, setup],
  );
  return {
    items,
    files: [[LINUXBOOT_ROM_FILE, boot.optionRom]],
    layout: { setup: setupAddr, kernel: kernelAddr, cmdline: cmdlineAddr, initrd: initrdAddr },
  };
}

/** QEMU's handling of vga= in the command line: the video mode it writes into the header, or null. */
function videoMode(cmdline: string): number | null {
  const at = cmdline.indexOf("vga=");
  if (at < 0) return null;
  const value = cmdline.slice(at + 4);
  if (value.startsWith("normal")) return 0xffff;
  if (value.startsWith("ext")) return 0xfffe;
  if (value.startsWith("ask")) return 0xfffd;
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?= |$)/.exec(value);
  if (!m) throw new MachbusError("kernel-invalid", `invalid 'vga=' kernel parameter in "${cmdline}"`);
  const n = /^0[xX]/.test(m[1]!) ? parseInt(m[1]!, 16) : /^0[0-7]/.test(m[1]!) ? parseInt(m[1]!, 8) : Number(m[1]);
  return n & 0xffff;
}

function le32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}
