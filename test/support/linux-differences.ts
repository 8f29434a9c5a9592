/**
 * Every way the Linux guest's view on machbus (v86) may differ from its view on QEMU 7.2, with
 * the reason: what v86 or machbus lacks, or what the host's timing changes. machbus serves
 * QEMU's own ACPI tables (src/acpi), so Linux runs in ACPI mode on both and sees the same
 * root-bus windows, interrupt links and hotplug slots.
 */
export type GuestSection = "pci-devices" | "irq" | "config" | "lspci" | "ioports" | "iomem" | "dmesg";

export interface NamedDifference {
  section: GuestSection;
  when: "always";
  reason: string;
  /** Only in these device lists (default: all). */
  scenarios?: string[];
  /** Lines that may appear on one side only. */
  lines?: { qemu?: RegExp[]; machbus?: RegExp[] };
  /** Config bytes (or, for section irq, the irq file) of this function that may differ. */
  config?: { bdf: string; offsets: number[] };
}

export const LINUX_NAMED_DIFFERENCES: NamedDifference[] = [
  // ---- v86
  {
    section: "dmesg",
    when: "always",
    reason:
      "v86's CPU does not report CLFLUSH (CPUID 1 EDX bit 19), so Linux keeps its 32-byte cache-line default; QEMU's qemu64 reports 64 bytes",
    lines: {
      qemu: [/^PCI: pci_cache_line_size set to 64 bytes$/, /^PCI: CLS 0 bytes, default 64$/],
      machbus: [/^PCI: pci_cache_line_size set to 32 bytes$/, /^PCI: CLS 0 bytes, default 32$/],
    },
  },
  {
    section: "dmesg",
    when: "always",
    reason:
      "Linux checks the PM timer's rate against its own clock before it registers the acpi_pm clocksource; QEMU (TCG) and v86 " +
      'both tick that timer from the host clock, so on a loaded host the check can fail on either side ("PM-Timer running at ' +
      'invalid rate") and the line is missing there',
    lines: { qemu: [/^clocksource: acpi_pm: /], machbus: [/^clocksource: acpi_pm: /] },
  },
  {
    section: "dmesg",
    when: "always",
    reason:
      "Linux logs a PCI quirk that ran longer than 10 ms (do_one_fixup_debug); under an emulated CPU on a loaded host any quirk " +
      "may cross that line, on either side",
    lines: {
      qemu: [/^pci [0-9a-f:.]+: \S+\+0x[0-9a-f]+\/0x[0-9a-f]+ took \d+ usecs$/],
      machbus: [/^pci [0-9a-f:.]+: \S+\+0x[0-9a-f]+\/0x[0-9a-f]+ took \d+ usecs$/],
    },
  },
  // ---- the firmware's other tables
  {
    section: "dmesg",
    when: "always",
    reason:
      "SMBIOS: machbus serves no SMBIOS tables through fw_cfg (QEMU's etc/smbios/*), so SeaBIOS builds its own and places " +
      "them in the F segment before the RSDP, which lands 0x80 higher there (the ACPI tables themselves are QEMU's, byte for byte)",
    lines: {
      qemu: [/^ACPI: RSDP 0x00000000000F[0-9A-F]{4} 000014 \(v00 BOCHS \)$/],
      machbus: [/^ACPI: RSDP 0x00000000000F[0-9A-F]{4} 000014 \(v00 BOCHS \)$/],
    },
  },
  {
    section: "config",
    when: "always",
    reason:
      "PIIX4 PM 0x67 (DEVRESC bits 31:24) bit 3 reads 1 on QEMU's guest after boot. It is 0 on QEMU when SeaBIOS has finished " +
      "(read through HMP with the firmware idle) and the DSDT is QEMU's (byte for byte) and does not touch it, so Linux on QEMU " +
      "writes it on a path that does not run on v86; which one is not identified",
    config: { bdf: "0000:00:01.3", offsets: [0x67] },
  },
  {
    section: "lspci",
    when: "always",
    reason: "the PIIX4 PM byte 0x67 above, in lspci's hex dump",
    lines: {
      qemu: [/^60: 00 00 00 60 00 00 00 08 00 00 00 00 00 00 00 00$/],
      machbus: [/^60: 00 00 00 60 00 00 00 00 00 00 00 00 00 00 00 00$/],
    },
  },
];
