/**
 * Every way the Linux guest's view on machbus (v86) may differ from its view on QEMU 7.2, with
 * the reason: what v86 lacks (`always`), or what needs the ACPI tables of branch acpi
 * (`no-acpi-tables`: in effect only while machbus builds no ACPI tables for pc, so these
 * disappear when that branch lands; the guest must then equal QEMU's there too).
 */
export type GuestSection = "pci-devices" | "irq" | "config" | "lspci" | "ioports" | "iomem" | "dmesg";

export interface NamedDifference {
  section: GuestSection;
  when: "always" | "no-acpi-tables";
  reason: string;
  /** Only in these device lists (default: all). */
  scenarios?: string[];
  /** Lines that may appear on one side only. */
  lines?: { qemu?: RegExp[]; machbus?: RegExp[] };
  /** Config bytes (or, for section irq, the irq file) of this function that may differ. */
  config?: { bdf: string; offsets: number[] };
  /** Rewrites QEMU's lines before the comparison (ioports, iomem). */
  qemuLines?: (lines: readonly string[]) => string[];
}

const NO_ACPI_MODE =
  "ACPI tables: branch acpi. machbus serves no ACPI tables yet, so SeaBIOS builds its own, and Linux does not enter " +
  "ACPI mode on them (the FADT's SMI_CMD, the APM port 0xb2, comes with the hotplug commit): PCI is probed without ACPI";
const SHPC_WITHOUT_OSHP =
  "ACPI tables: branch acpi. Without ACPI (no OSHP/_OSC) Debian's built-in shpchp driver takes the bridge's SHPC: it " +
  "enables the bridge (command), selects an SHPC register (0x42) and programs its MSI (0x4c-0x5b, IRQ 24); on QEMU it asks ACPI and leaves it";
const SHPC_CONFIG = [0x04, 0x05, 0x42, 0x4e, 0x50, 0x51, 0x52, 0x53, 0x58];

/** QEMU's /proc/ioports or /proc/iomem lines without the root bus's windows (from ACPI _CRS), their children one level up. */
function withoutRootWindows(lines: readonly string[]): string[] {
  const out: string[] = [];
  let nested = false;
  for (const line of lines) {
    if (/^\S.* : PCI Bus 0000:00$/.test(line)) {
      nested = true;
      continue;
    }
    if (!line.startsWith(" ")) nested = false;
    out.push(nested ? line.slice(2) : line);
  }
  return out;
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
  // ---- ACPI tables (branch acpi)
  {
    section: "dmesg",
    when: "no-acpi-tables",
    reason: "ACPI tables: branch acpi. SeaBIOS's own tables: other tables (SSDT; no HPET, WAET) at other addresses",
    lines: {
      qemu: [/^ACPI: (RSDP|RSDT|FACP|DSDT|FACS|APIC|HPET|WAET) 0x/, /^ACPI: Reserving \w+ table memory/, /^ACPI: HPET id: /],
      machbus: [/^ACPI: (RSDP|RSDT|FACP|DSDT|FACS|SSDT|APIC) 0x/, /^ACPI: Reserving \w+ table memory/],
    },
  },
  {
    section: "dmesg",
    when: "no-acpi-tables",
    reason: NO_ACPI_MODE,
    lines: {
      qemu: [
        /^ACPI: (Added _OSI|\d+ ACPI AML tables|Interpreter enabled|PM: \(supports|Using IOAPIC for interrupt routing|Enabled \d+ GPEs|PCI Root Bridge|PCI: Interrupt link)/,
        /^acpi PNP0A03:00: /,
        /^acpi resource window /,
        /^acpiphp: /,
        /^PCI: Using (host bridge windows from ACPI|E820 reservations for host bridge windows|ACPI for IRQ routing)/,
        /^pci_bus 0000:00: (root bus resource|resource \d+) \[.* window\]$/,
        /^pci_bus 0000:00: root bus resource \[bus 00-ff\]$/,
        /^pci_bus 0000:00: on NUMA node 0$/,
        /^pnp: PnP ACPI( init|: found \d+ devices)$/,
      ],
      machbus: [
        /^ACPI Error: Hardware did not enter ACPI mode /,
        /^ACPI Warning: AcpiEnable failed /,
        /^ACPI: (Unable to enable ACPI|Interpreter disabled\.)$/,
        /^PCI: Probing PCI hardware( \(bus 00\))?$/,
        /^PCI: root bus 00: using default resources$/,
        /^pci_bus 0000:00: (root bus resource|resource \d+) \[(io {2}0x0000-0xffff|mem 0x00000000-0xffffffff)\]$/,
        /^pci_bus 0000:00: No busn resource found for root bus, will use \[bus 00-ff\]$/,
        /^pci_bus 0000:00: busn_res: \[bus 00-ff\] end is updated to 0[01]$/,
        /^pci 0000:00:01\.0: PIIX\/ICH IRQ router \[8086:7000\]$/,
        /^pnp: PnP ACPI: disabled$/,
      ],
    },
  },
  {
    section: "ioports",
    when: "no-acpi-tables",
    reason: `${NO_ACPI_MODE}: no root-bus windows from _CRS ("PCI Bus 0000:00"), so the same entries sit one level up`,
    qemuLines: withoutRootWindows,
  },
  {
    section: "iomem",
    when: "no-acpi-tables",
    reason: `${NO_ACPI_MODE}: no root-bus windows from _CRS ("PCI Bus 0000:00"), so the same entries sit one level up`,
    qemuLines: withoutRootWindows,
  },
  {
    section: "config",
    when: "no-acpi-tables",
    reason: "ACPI tables: branch acpi. Linux's ACPI link driver disables every link (LNKA-D _DIS) at boot: PIIX3's PIRQ routing bit 7",
    config: { bdf: "0000:00:01.0", offsets: [0x60, 0x61, 0x62, 0x63] },
  },
  {
    section: "config",
    when: "no-acpi-tables",
    reason: "ACPI tables: branch acpi. QEMU's DSDT sets PIIX4 0x67 bit 3 (its ISA device enable field CAEN in PX13's config region)",
    config: { bdf: "0000:00:01.3", offsets: [0x67] },
  },
  {
    section: "lspci",
    when: "no-acpi-tables",
    reason: "ACPI tables: branch acpi. The PIRQ and PIIX4 bytes above, in lspci's hex dump; and no slot numbers (_SUN) without ACPI",
    lines: {
      qemu: [
        /^60: 8a 8a 8b 8b 00 00 00 00 00 02 00 00 00 00 00 00$/,
        /^60: 00 00 00 60 00 00 00 08 00 00 00 00 00 00 00 00$/,
        /^\tPhysical Slot: /,
      ],
      machbus: [/^60: 0a 0a 0b 0b 00 00 00 00 00 02 00 00 00 00 00 00$/, /^60: 00 00 00 60 00 00 00 00 00 00 00 00 00 00 00 00$/],
    },
  },
  // The pci-bridge without ACPI: shpchp binds to it.
  {
    section: "config",
    when: "no-acpi-tables",
    scenarios: ["bridge"],
    reason: SHPC_WITHOUT_OSHP,
    config: { bdf: "0000:00:02.0", offsets: SHPC_CONFIG },
  },
  {
    section: "irq",
    when: "no-acpi-tables",
    scenarios: ["bridge"],
    reason: SHPC_WITHOUT_OSHP,
    config: { bdf: "0000:00:02.0", offsets: [] },
  },
  {
    section: "pci-devices",
    when: "no-acpi-tables",
    scenarios: ["bridge"],
    reason: SHPC_WITHOUT_OSHP,
    lines: { qemu: [/^0010\t1b360001\ta\t[0-9a-f\s]*$/], machbus: [/^0010\t1b360001\t18\t.*\tshpchp$/] },
  },
  {
    section: "lspci",
    when: "no-acpi-tables",
    scenarios: ["bridge"],
    reason: SHPC_WITHOUT_OSHP,
    lines: {
      qemu: [
        /^\tControl: I\/O\+ Mem\+ BusMaster- .* DisINTx-$/,
        /^\tInterrupt: pin A routed to IRQ 10$/,
        /^\tCapabilities: \[4c\] MSI: Enable- /,
        /^\t\tAddress: 0000000000000000 {2}Data: 0000$/,
        /^00: 36 1b 01 00 03 01 b0 00 /,
        /^40: 0c 00 00 00 /,
        /^50: 00 00 00 00 00 00 00 00 00 /,
      ],
      machbus: [
        /^\tControl: I\/O\+ Mem\+ BusMaster\+ .* DisINTx\+$/,
        /^\tLatency: 0$/,
        /^\tInterrupt: pin A routed to IRQ 24$/,
        /^\tCapabilities: \[4c\] MSI: Enable\+ /,
        /^\t\tAddress: 00000000fee01004 {2}Data: 0021$/,
        /^\tKernel driver in use: shpchp$/,
        /^00: 36 1b 01 00 07 05 b0 00 /,
        /^40: 0c 00 08 00 /,
        /^50: 04 10 e0 fe 00 00 00 00 21 /,
      ],
    },
  },
  {
    section: "dmesg",
    when: "no-acpi-tables",
    scenarios: ["bridge"],
    reason: SHPC_WITHOUT_OSHP,
    lines: {
      qemu: [/^shpchp 0000:00:02\.0: Requesting control of SHPC hotplug via OSHP /],
      machbus: [/^shpchp 0000:00:02\.0: can't find IRQ for PCI INT A; probably buggy MP table$/],
    },
  },
];
