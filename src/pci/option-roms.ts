import { own } from "../own.js";

/**
 * Sizes of the option ROM images QEMU 7.2 finds on a Debian system (ipxe-qemu
 * 1.0.0+git-20190125.36a4c85-5.1, seabios 1.16.2-1): QEMU sizes the ROM BAR as the file size
 * rounded up to a power of two, so these decide the BAR's size mask. Facts, measured from the
 * files; a user's own romfile needs `romsize=` since the engine reads no files.
 */
const ROM_FILE_BYTES: Record<string, number> = {
  "efi-e1000.rom": 249856,
  "efi-e1000e.rom": 249856,
  "efi-eepro100.rom": 247808,
  "efi-ne2k_pci.rom": 245760,
  "efi-pcnet.rom": 246272,
  "efi-rtl8139.rom": 249856,
  "efi-virtio.rom": 249344,
  "efi-vmxnet3.rom": 243712,
  "pxe-e1000.rom": 75264,
  "pxe-e1000e.rom": 75264,
  "pxe-eepro100.rom": 75264,
  "pxe-ne2k_pci.rom": 74752,
  "pxe-pcnet.rom": 74752,
  "pxe-rtl8139.rom": 75776,
  "pxe-virtio.rom": 75776,
  "pxe-vmxnet3.rom": 74240,
  "vgabios-ati.bin": 39936,
  "vgabios-bochs-display.bin": 28672,
  "vgabios-cirrus.bin": 39424,
  "vgabios-qxl.bin": 39936,
  "vgabios-ramfb.bin": 29184,
  "vgabios-stdvga.bin": 39936,
  "vgabios-virtio.bin": 39936,
  "vgabios-vmware.bin": 39936,
};

/** The ROM BAR size QEMU gives `romfile`, or undefined for a file it would not know. */
export function optionRomBarSize(romfile: string): number | undefined {
  const bytes = own(ROM_FILE_BYTES, romfile);
  if (bytes === undefined) return undefined;
  let size = 1;
  while (size < bytes) size *= 2;
  return size;
}
