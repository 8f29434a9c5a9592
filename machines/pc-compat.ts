/**
 * pc-i440fx compat properties, QEMU 7.2: for every versioned type from 7.1 down to 1.4, what it adds over
 * the next newer type (QEMU's `hw_compat_X_Y[]` from hw/core/machine.c, then `pc_compat_X_Y[]` from
 * hw/i386/pc.c, in array order, exactly as `pc_i440fx_X_Y_machine_options()` in hw/i386/pc_piix.c applies
 * them), followed by the seed-era types pc-0.11 and pc-0.10 (QEMU 0.12's hw/pc.c).
 *
 * Data only. Checked against the installed QEMU 7.2 (`qemu-system-x86_64` 7.2.22, Debian
 * 1:7.2+dfsg-7+deb12u18+b3): the GlobalProperty arrays in its .data, read back through their
 * relocations, equal the concatenation of these lists (1.4 … 7.1) entry for entry and in order.
 *
 * Driver names are QEMU's QOM type names as the x86_64 binary spells them: `TYPE_X86_CPU` is
 * "x86_64-cpu" (so "qemu64-" TYPE_X86_CPU is "qemu64-x86_64-cpu"), `TYPE_PCI_DEVICE` is "pci-device",
 * `TYPE_USB_DEVICE` is "usb-device". A global applies to the named type and every subtype; these are
 * abstract QOM parents (per `qom-list-types` on QEMU 7.2): "pci-device", "virtio-pci", "virtio-device",
 * "virtio-net-pci-base", "pcie-root-port-base", "pci-host-bridge", "fw_cfg", "hda-audio",
 * "apic-common", "usb-device", "x86_64-cpu". The seed era's "PCI" is QEMU 0.12's PCI bus name (0.12
 * matched a global against a device's name or its bus's name), i.e. every PCI device.
 * Some drivers are not types in qemu-system-x86_64 7.2 and QEMU applies them to nothing: ARM-only
 * "arm-gicv3-common", "pl011", "pl031", "pflash_cfi01"; removed "Icelake-Client-x86_64-cpu"; and
 * "vhost-blk-device", which never existed. They are kept so the lists stay QEMU's.
 */
import type { CompatProperty, MachineClassFields } from "../src/machine/machine-type.js";

export interface PcVersion {
  /** "7.1" … "1.4", "0.11", "0.10" */
  readonly version: string;
  readonly description: string;
  /** Entries this version adds over the next newer one, QEMU's order: hw_compat first, then pc_compat. */
  readonly compat: readonly CompatProperty[];
  /** Machine-class fields this version changes (QEMU sets them in pc_i440fx_X_Y_machine_options). */
  readonly classFields?: Partial<MachineClassFields>;
  /** Other machine-option differences (not properties, not modelled), for the docs. */
  readonly notes?: readonly string[];
}

const I440FX = "Standard PC (i440FX + PIIX, 1996)";

/** Newest first: 7.1, 7.0, 6.2, … 1.4, then 0.11, 0.10. (7.2 itself adds nothing.) */
export const PC_VERSIONS: readonly PcVersion[] = [
  // pc-i440fx-7.1: hw_compat_7_1[] (4) + pc_compat_7_1[] (empty)
  {
    version: "7.1",
    description: I440FX,
    compat: [
      { driver: "virtio-device", property: "queue_reset", value: "false" },
      { driver: "virtio-rng-pci", property: "vectors", value: "0" },
      { driver: "virtio-rng-pci-transitional", property: "vectors", value: "0" },
      { driver: "virtio-rng-pci-non-transitional", property: "vectors", value: "0" },
    ],
  },
  // pc-i440fx-7.0: hw_compat_7_0[] (2) + pc_compat_7_0[] (empty)
  {
    version: "7.0",
    description: I440FX,
    compat: [
      { driver: "arm-gicv3-common", property: "force-8-bit-prio", value: "on" },
      { driver: "nvme-ns", property: "eui64-default", value: "on" },
    ],
    // enforce_amd_1tb_hole=false: etc/e820 does not reserve the HyperTransport hole, and above-4G RAM is never moved past it
    classFields: { amd1tbHole: false },
  },
  // pc-i440fx-6.2: hw_compat_6_2[] (1) + pc_compat_6_2[] (1)
  {
    version: "6.2",
    description: I440FX,
    compat: [
      { driver: "PIIX4_PM", property: "x-not-migrate-acpi-index", value: "on" },
      { driver: "virtio-mem", property: "unplugged-inaccessible", value: "off" },
    ],
  },
  // pc-i440fx-6.1: hw_compat_6_1[] (2) + pc_compat_6_1[] (4)
  {
    version: "6.1",
    description: I440FX,
    compat: [
      { driver: "vhost-user-vsock-device", property: "seqpacket", value: "off" },
      { driver: "nvme-ns", property: "shared", value: "off" },
      { driver: "x86_64-cpu", property: "hv-version-id-build", value: "0x1bbc" },
      { driver: "x86_64-cpu", property: "hv-version-id-major", value: "0x0006" },
      { driver: "x86_64-cpu", property: "hv-version-id-minor", value: "0x0001" },
      { driver: "ICH9-LPC", property: "x-keep-pci-slot-hpc", value: "false" },
    ],
    notes: ["smp prefer_sockets: -smp N without a topology fills sockets, not cores (CPU/SMBIOS topology)"],
  },
  // pc-i440fx-6.0: hw_compat_6_0[] (6) + pc_compat_6_0[] (6)
  {
    version: "6.0",
    description: I440FX,
    compat: [
      { driver: "gpex-pcihost", property: "allow-unmapped-accesses", value: "false" },
      { driver: "i8042", property: "extended-state", value: "false" },
      { driver: "nvme-ns", property: "eui64-default", value: "off" },
      { driver: "e1000", property: "init-vet", value: "off" },
      { driver: "e1000e", property: "init-vet", value: "off" },
      { driver: "vhost-vsock-device", property: "seqpacket", value: "off" },
      { driver: "qemu64-x86_64-cpu", property: "family", value: "6" },
      { driver: "qemu64-x86_64-cpu", property: "model", value: "6" },
      { driver: "qemu64-x86_64-cpu", property: "stepping", value: "3" },
      { driver: "x86_64-cpu", property: "x-vendor-cpuid-only", value: "off" },
      { driver: "ICH9-LPC", property: "acpi-pci-hotplug-with-bridge-support", value: "off" },
      { driver: "ICH9-LPC", property: "x-keep-pci-slot-hpc", value: "true" },
    ],
  },
  // pc-i440fx-5.2: hw_compat_5_2[] (5) + pc_compat_5_2[] (1)
  {
    version: "5.2",
    description: I440FX,
    compat: [
      { driver: "ICH9-LPC", property: "smm-compat", value: "on" },
      { driver: "PIIX4_PM", property: "smm-compat", value: "on" },
      { driver: "virtio-blk-device", property: "report-discard-granularity", value: "off" },
      { driver: "virtio-net-pci-base", property: "vectors", value: "3" },
      // Stable backport (QEMU 7.2.x, upstream fa905f65c5): not in v7.2.0, present in the installed 7.2.22.
      { driver: "nvme", property: "msix-exclusive-bar", value: "on" },
      { driver: "ICH9-LPC", property: "x-smi-cpu-hotunplug", value: "off" },
    ],
  },
  // pc-i440fx-5.1: hw_compat_5_1[] (9) + pc_compat_5_1[] (2)
  {
    version: "5.1",
    description: I440FX,
    compat: [
      { driver: "vhost-scsi", property: "num_queues", value: "1" },
      { driver: "vhost-user-blk", property: "num-queues", value: "1" },
      { driver: "vhost-user-scsi", property: "num_queues", value: "1" },
      { driver: "virtio-blk-device", property: "num-queues", value: "1" },
      { driver: "virtio-scsi-device", property: "num_queues", value: "1" },
      { driver: "nvme", property: "use-intel-id", value: "on" },
      { driver: "pvpanic", property: "events", value: "1" },
      { driver: "pl011", property: "migrate-clk", value: "off" },
      { driver: "virtio-pci", property: "x-ats-page-aligned", value: "off" },
      { driver: "ICH9-LPC", property: "x-smi-cpu-hotplug", value: "off" },
      { driver: "x86_64-cpu", property: "kvm-msi-ext-dest-id", value: "off" },
    ],
    notes: ["pci_root_uid=1: ACPI _UID of the root PCI bus PCI0 is 1 (0 from pc-i440fx-5.2)"],
    // pci_root_uid_compat and other ACPI changes: QEMU's tables differ from 7.2's, which are all machbus builds
    classFields: { qemuAcpiTables: false },
  },
  // pc-i440fx-5.0: hw_compat_5_0[] (7) + pc_compat_5_0[] (empty)
  {
    version: "5.0",
    description: I440FX,
    compat: [
      { driver: "pci-host-bridge", property: "x-config-reg-migration-enabled", value: "off" },
      { driver: "virtio-balloon-device", property: "page-poison", value: "false" },
      { driver: "vmport", property: "x-read-set-eax", value: "off" },
      { driver: "vmport", property: "x-signal-unsupported-cmd", value: "off" },
      { driver: "vmport", property: "x-report-vmx-type", value: "off" },
      { driver: "vmport", property: "x-cmds-v2", value: "off" },
      { driver: "virtio-device", property: "x-disable-legacy-check", value: "true" },
    ],
    notes: [
      "auto_enable_numa_with_memdev=false: no implicit NUMA node (SRAT) for memory devices",
      "numa_mem_supported: legacy -numa node,mem= accepted",
    ],
  },
  // pc-i440fx-4.2: hw_compat_4_2[] (12) + pc_compat_4_2[] (1)
  {
    version: "4.2",
    description: I440FX,
    compat: [
      { driver: "virtio-blk-device", property: "queue-size", value: "128" },
      { driver: "virtio-scsi-device", property: "virtqueue_size", value: "128" },
      { driver: "virtio-blk-device", property: "x-enable-wce-if-config-wce", value: "off" },
      { driver: "virtio-blk-device", property: "seg-max-adjust", value: "off" },
      { driver: "virtio-scsi-device", property: "seg_max_adjust", value: "off" },
      { driver: "vhost-blk-device", property: "seg_max_adjust", value: "off" },
      { driver: "usb-host", property: "suppress-remote-wake", value: "off" },
      { driver: "usb-redir", property: "suppress-remote-wake", value: "off" },
      { driver: "qxl", property: "revision", value: "4" },
      { driver: "qxl-vga", property: "revision", value: "4" },
      { driver: "fw_cfg", property: "acpi-mr-restore", value: "false" },
      { driver: "virtio-device", property: "use-disabled-flag", value: "false" },
      { driver: "mch", property: "smbase-smram", value: "off" },
    ],
  },
  // pc-i440fx-4.1: hw_compat_4_1[] (1) + pc_compat_4_1[] (empty)
  {
    version: "4.1",
    description: I440FX,
    compat: [{ driver: "virtio-pci", property: "x-pcie-flr-init", value: "off" }],
  },
  // pc-i440fx-4.0: hw_compat_4_0[] (8) + pc_compat_4_0[] (empty)
  {
    version: "4.0",
    description: I440FX,
    compat: [
      { driver: "VGA", property: "edid", value: "false" },
      { driver: "secondary-vga", property: "edid", value: "false" },
      { driver: "bochs-display", property: "edid", value: "false" },
      { driver: "virtio-vga", property: "edid", value: "false" },
      { driver: "virtio-gpu-device", property: "edid", value: "false" },
      { driver: "virtio-device", property: "use-started", value: "false" },
      { driver: "virtio-balloon-device", property: "qemu-4-0-config-size", value: "true" },
      { driver: "pl031", property: "migrate-tick-offset", value: "false" },
    ],
    notes: ["default_cpu_version=CPU_VERSION_LEGACY: -cpu models are not resolved to versioned aliases (CPUID only)"],
  },
  // pc-i440fx-3.1: hw_compat_3_1[] (13) + pc_compat_3_1[] (21)
  {
    version: "3.1",
    description: I440FX,
    compat: [
      { driver: "pcie-root-port", property: "x-speed", value: "2_5" },
      { driver: "pcie-root-port", property: "x-width", value: "1" },
      { driver: "memory-backend-file", property: "x-use-canonical-path-for-ramblock-id", value: "true" },
      { driver: "memory-backend-memfd", property: "x-use-canonical-path-for-ramblock-id", value: "true" },
      { driver: "tpm-crb", property: "ppi", value: "false" },
      { driver: "tpm-tis", property: "ppi", value: "false" },
      { driver: "usb-kbd", property: "serial", value: "42" },
      { driver: "usb-mouse", property: "serial", value: "42" },
      { driver: "usb-tablet", property: "serial", value: "42" },
      { driver: "virtio-blk-device", property: "discard", value: "false" },
      { driver: "virtio-blk-device", property: "write-zeroes", value: "false" },
      { driver: "virtio-balloon-device", property: "qemu-4-0-config-size", value: "false" },
      { driver: "pcie-root-port-base", property: "disable-acs", value: "true" },
      { driver: "intel-iommu", property: "dma-drain", value: "off" },
      { driver: "Opteron_G3-x86_64-cpu", property: "rdtscp", value: "off" },
      { driver: "Opteron_G4-x86_64-cpu", property: "rdtscp", value: "off" },
      { driver: "Opteron_G4-x86_64-cpu", property: "npt", value: "off" },
      { driver: "Opteron_G4-x86_64-cpu", property: "nrip-save", value: "off" },
      { driver: "Opteron_G5-x86_64-cpu", property: "rdtscp", value: "off" },
      { driver: "Opteron_G5-x86_64-cpu", property: "npt", value: "off" },
      { driver: "Opteron_G5-x86_64-cpu", property: "nrip-save", value: "off" },
      { driver: "EPYC-x86_64-cpu", property: "npt", value: "off" },
      { driver: "EPYC-x86_64-cpu", property: "nrip-save", value: "off" },
      { driver: "EPYC-IBPB-x86_64-cpu", property: "npt", value: "off" },
      { driver: "EPYC-IBPB-x86_64-cpu", property: "nrip-save", value: "off" },
      { driver: "Skylake-Client-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Skylake-Client-IBRS-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Skylake-Server-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Skylake-Server-IBRS-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Cascadelake-Server-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Icelake-Client-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Icelake-Server-x86_64-cpu", property: "mpx", value: "on" },
      { driver: "Cascadelake-Server-x86_64-cpu", property: "stepping", value: "5" },
      { driver: "x86_64-cpu", property: "x-intel-pt-auto-level", value: "off" },
    ],
    notes: ["pvh_enabled=false: -kernel does not boot PVH ELF images"],
  },
  // pc-i440fx-3.0: hw_compat_3_0[] (empty) + pc_compat_3_0[] (3)
  {
    version: "3.0",
    description: I440FX,
    compat: [
      { driver: "x86_64-cpu", property: "x-hv-synic-kvm-only", value: "on" },
      { driver: "Skylake-Server-x86_64-cpu", property: "pku", value: "off" },
      { driver: "Skylake-Server-IBRS-x86_64-cpu", property: "pku", value: "off" },
    ],
  },
  // pc-i440fx-2.12: hw_compat_2_12[] (6) + pc_compat_2_12[] (4)
  {
    version: "2.12",
    description: I440FX,
    compat: [
      { driver: "migration", property: "decompress-error-check", value: "off" },
      { driver: "hda-audio", property: "use-timer", value: "false" },
      { driver: "cirrus-vga", property: "global-vmstate", value: "true" },
      { driver: "VGA", property: "global-vmstate", value: "true" },
      { driver: "vmware-svga", property: "global-vmstate", value: "true" },
      { driver: "qxl-vga", property: "global-vmstate", value: "true" },
      { driver: "x86_64-cpu", property: "legacy-cache", value: "on" },
      { driver: "x86_64-cpu", property: "topoext", value: "off" },
      { driver: "EPYC-x86_64-cpu", property: "xlevel", value: "0x8000000a" },
      { driver: "EPYC-IBPB-x86_64-cpu", property: "xlevel", value: "0x8000000a" },
    ],
  },
  // pc-i440fx-2.11: hw_compat_2_11[] (4) + pc_compat_2_11[] (2)
  {
    version: "2.11",
    description: I440FX,
    compat: [
      { driver: "hpet", property: "hpet-offset-saved", value: "false" },
      { driver: "virtio-blk-pci", property: "vectors", value: "2" },
      { driver: "vhost-user-blk-pci", property: "vectors", value: "2" },
      { driver: "e1000", property: "migrate_tso_props", value: "off" },
      { driver: "x86_64-cpu", property: "x-migrate-smi-count", value: "off" },
      { driver: "Skylake-Server-x86_64-cpu", property: "clflushopt", value: "off" },
    ],
  },
  // pc-i440fx-2.10: hw_compat_2_10[] (2) + pc_compat_2_10[] (3)
  {
    version: "2.10",
    description: I440FX,
    compat: [
      { driver: "virtio-mouse-device", property: "wheel-axis", value: "false" },
      { driver: "virtio-tablet-device", property: "wheel-axis", value: "false" },
      { driver: "x86_64-cpu", property: "x-hv-max-vps", value: "0x40" },
      { driver: "i440FX-pcihost", property: "x-pci-hole64-fix", value: "off" },
      { driver: "q35-pcihost", property: "x-pci-hole64-fix", value: "off" },
    ],
    notes: ["auto_enable_numa_with_memhp=false: no implicit NUMA node (SRAT) when memory hotplug (maxmem) is configured"],
  },
  // pc-i440fx-2.9: hw_compat_2_9[] (4) + pc_compat_2_9[] (1)
  {
    version: "2.9",
    description: I440FX,
    compat: [
      { driver: "pci-bridge", property: "shpc", value: "off" },
      { driver: "intel-iommu", property: "pt", value: "off" },
      { driver: "virtio-net-device", property: "x-mtu-bypass-backend", value: "off" },
      { driver: "pcie-root-port", property: "x-migrate-msix", value: "false" },
      { driver: "mch", property: "extended-tseg-mbytes", value: "0" },
    ],
  },
  // pc-i440fx-2.8: hw_compat_2_8[] (10) + pc_compat_2_8[] (5)
  {
    version: "2.8",
    description: I440FX,
    compat: [
      { driver: "fw_cfg_mem", property: "x-file-slots", value: "0x10" },
      { driver: "fw_cfg_io", property: "x-file-slots", value: "0x10" },
      { driver: "pflash_cfi01", property: "old-multiple-chip-handling", value: "on" },
      { driver: "pci-bridge", property: "shpc", value: "on" },
      { driver: "pci-device", property: "x-pcie-extcap-init", value: "off" },
      { driver: "virtio-pci", property: "x-pcie-deverr-init", value: "off" },
      { driver: "virtio-pci", property: "x-pcie-lnkctl-init", value: "off" },
      { driver: "virtio-pci", property: "x-pcie-pm-init", value: "off" },
      { driver: "cirrus-vga", property: "vgamem_mb", value: "8" },
      { driver: "isa-cirrus-vga", property: "vgamem_mb", value: "8" },
      { driver: "x86_64-cpu", property: "tcg-cpuid", value: "off" },
      { driver: "kvmclock", property: "x-mach-use-reliable-get-clock", value: "off" },
      { driver: "ICH9-LPC", property: "x-smi-broadcast", value: "off" },
      { driver: "x86_64-cpu", property: "vmware-cpuid-freq", value: "off" },
      { driver: "Haswell-x86_64-cpu", property: "stepping", value: "1" },
    ],
  },
  // pc-i440fx-2.7: hw_compat_2_7[] (5) + pc_compat_2_7[] (6)
  {
    version: "2.7",
    description: I440FX,
    compat: [
      { driver: "virtio-pci", property: "page-per-vq", value: "on" },
      { driver: "virtio-serial-device", property: "emergency-write", value: "off" },
      { driver: "ioapic", property: "version", value: "0x11" },
      { driver: "intel-iommu", property: "x-buggy-eim", value: "true" },
      { driver: "virtio-pci", property: "x-ignore-backend-features", value: "on" },
      { driver: "x86_64-cpu", property: "l3-cache", value: "off" },
      { driver: "x86_64-cpu", property: "full-cpuid-auto-level", value: "off" },
      { driver: "Opteron_G3-x86_64-cpu", property: "family", value: "15" },
      { driver: "Opteron_G3-x86_64-cpu", property: "model", value: "6" },
      { driver: "Opteron_G3-x86_64-cpu", property: "stepping", value: "1" },
      { driver: "isa-pcspk", property: "migrate", value: "off" },
    ],
  },
  // pc-i440fx-2.6: hw_compat_2_6[] (3) + pc_compat_2_6[] (4)
  {
    version: "2.6",
    description: I440FX,
    compat: [
      { driver: "virtio-mmio", property: "format_transport_address", value: "off" },
      // .optional = true in QEMU: silently skipped where the device lacks the property.
      { driver: "virtio-pci", property: "disable-modern", value: "on" },
      // .optional = true in QEMU: silently skipped where the device lacks the property.
      { driver: "virtio-pci", property: "disable-legacy", value: "off" },
      { driver: "x86_64-cpu", property: "cpuid-0xb", value: "off" },
      { driver: "vmxnet3", property: "romfile", value: "" },
      { driver: "x86_64-cpu", property: "fill-mtrr-mask", value: "off" },
      { driver: "apic-common", property: "legacy-instance-id", value: "on" },
    ],
    notes: [
      "legacy_cpu_hotplug: legacy CPU hotplug AML in the DSDT",
      "linuxboot_dma_enabled=false: -kernel uses linuxboot.bin, not linuxboot_dma.bin",
    ],
  },
  // pc-i440fx-2.5: hw_compat_2_5[] (5) + pc_compat_2_5[] (empty)
  {
    version: "2.5",
    description: I440FX,
    compat: [
      { driver: "isa-fdc", property: "fallback", value: "144" },
      { driver: "pvscsi", property: "x-old-pci-configuration", value: "on" },
      { driver: "pvscsi", property: "x-disable-pcie", value: "on" },
      { driver: "vmxnet3", property: "x-old-msi-offsets", value: "on" },
      { driver: "vmxnet3", property: "x-disable-pcie", value: "on" },
    ],
    classFields: { legacyFwCfgOrder: true },
  },
  // pc-i440fx-2.4: hw_compat_2_4[] (6) + pc_compat_2_4[] (17)
  {
    version: "2.4",
    description: I440FX,
    classFields: { hwVersion: "2.4.0" },
    compat: [
      // .optional = true in QEMU: silently skipped where the device lacks the property.
      { driver: "virtio-blk-device", property: "scsi", value: "true" },
      { driver: "e1000", property: "extra_mac_registers", value: "off" },
      { driver: "virtio-pci", property: "x-disable-pcie", value: "on" },
      { driver: "virtio-pci", property: "migrate-extra", value: "off" },
      { driver: "fw_cfg_mem", property: "dma_enabled", value: "off" },
      { driver: "fw_cfg_io", property: "dma_enabled", value: "off" },
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.4.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.4.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.4.0" },
      { driver: "Haswell-x86_64-cpu", property: "abm", value: "off" },
      { driver: "Haswell-noTSX-x86_64-cpu", property: "abm", value: "off" },
      { driver: "Broadwell-x86_64-cpu", property: "abm", value: "off" },
      { driver: "Broadwell-noTSX-x86_64-cpu", property: "abm", value: "off" },
      { driver: "host-x86_64-cpu", property: "host-cache-info", value: "on" },
      { driver: "x86_64-cpu", property: "check", value: "off" },
      { driver: "qemu64-x86_64-cpu", property: "sse4a", value: "on" },
      { driver: "qemu64-x86_64-cpu", property: "abm", value: "on" },
      { driver: "qemu64-x86_64-cpu", property: "popcnt", value: "on" },
      { driver: "qemu32-x86_64-cpu", property: "popcnt", value: "on" },
      { driver: "Opteron_G2-x86_64-cpu", property: "rdtscp", value: "on" },
      { driver: "Opteron_G3-x86_64-cpu", property: "rdtscp", value: "on" },
      { driver: "Opteron_G4-x86_64-cpu", property: "rdtscp", value: "on" },
      { driver: "Opteron_G5-x86_64-cpu", property: "rdtscp", value: "on" },
    ],
    notes: [
      "hw_version 2.4.0 (IDE/SCSI disk firmware revision; 2.5+ types report the running QEMU's)",
      "broken_reserved_end: fw_cfg etc/reserved-memory-end omits the device-memory region (with maxmem)",
    ],
  },
  // pc-i440fx-2.3: hw_compat_2_3[] (9) + pc_compat_2_3[] (23)
  {
    version: "2.3",
    description: I440FX,
    classFields: { hwVersion: "2.3.0" },
    compat: [
      { driver: "virtio-blk-pci", property: "any_layout", value: "off" },
      { driver: "virtio-balloon-pci", property: "any_layout", value: "off" },
      { driver: "virtio-serial-pci", property: "any_layout", value: "off" },
      { driver: "virtio-9p-pci", property: "any_layout", value: "off" },
      { driver: "virtio-rng-pci", property: "any_layout", value: "off" },
      { driver: "pci-device", property: "x-pcie-lnksta-dllla", value: "off" },
      { driver: "migration", property: "send-configuration", value: "off" },
      { driver: "migration", property: "send-section-footer", value: "off" },
      { driver: "migration", property: "store-global-state", value: "off" },
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.3.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.3.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.3.0" },
      { driver: "x86_64-cpu", property: "arat", value: "off" },
      { driver: "qemu64-x86_64-cpu", property: "min-level", value: "4" },
      { driver: "kvm64-x86_64-cpu", property: "min-level", value: "5" },
      { driver: "pentium3-x86_64-cpu", property: "min-level", value: "2" },
      { driver: "n270-x86_64-cpu", property: "min-level", value: "5" },
      { driver: "Conroe-x86_64-cpu", property: "min-level", value: "4" },
      { driver: "Penryn-x86_64-cpu", property: "min-level", value: "4" },
      { driver: "Nehalem-x86_64-cpu", property: "min-level", value: "4" },
      { driver: "n270-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Penryn-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Conroe-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Nehalem-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Westmere-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "SandyBridge-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "IvyBridge-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Haswell-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Haswell-noTSX-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Broadwell-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "Broadwell-noTSX-x86_64-cpu", property: "min-xlevel", value: "0x8000000a" },
      { driver: "x86_64-cpu", property: "kvm-no-smi-migration", value: "on" },
    ],
    notes: ["hw_version 2.3.0", "SMM off under KVM (pc_compat_2_3_fn; TCG unaffected)"],
  },
  // pc-i440fx-2.2: hw_compat_2_2[] (empty) + pc_compat_2_2[] (21)
  {
    version: "2.2",
    description: I440FX,
    classFields: { hwVersion: "2.2.0" },
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.2.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.2.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.2.0" },
      { driver: "kvm64-x86_64-cpu", property: "vme", value: "off" },
      { driver: "kvm32-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Conroe-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Penryn-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Nehalem-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Westmere-x86_64-cpu", property: "vme", value: "off" },
      { driver: "SandyBridge-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Haswell-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Broadwell-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Opteron_G1-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Opteron_G2-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Opteron_G3-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Opteron_G4-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Opteron_G5-x86_64-cpu", property: "vme", value: "off" },
      { driver: "Haswell-x86_64-cpu", property: "f16c", value: "off" },
      { driver: "Haswell-x86_64-cpu", property: "rdrand", value: "off" },
      { driver: "Broadwell-x86_64-cpu", property: "f16c", value: "off" },
      { driver: "Broadwell-x86_64-cpu", property: "rdrand", value: "off" },
    ],
    notes: ["hw_version 2.2.0"],
  },
  // pc-i440fx-2.1: hw_compat_2_1[] (7) + pc_compat_2_1[] (5)
  {
    version: "2.1",
    description: I440FX,
    classFields: { hwVersion: "2.1.0" },
    compat: [
      { driver: "intel-hda", property: "old_msi_addr", value: "on" },
      { driver: "VGA", property: "qemu-extended-regs", value: "off" },
      { driver: "secondary-vga", property: "qemu-extended-regs", value: "off" },
      { driver: "virtio-scsi-pci", property: "any_layout", value: "off" },
      { driver: "usb-mouse", property: "usb_version", value: "1" },
      { driver: "usb-kbd", property: "usb_version", value: "1" },
      { driver: "virtio-pci", property: "virtio-pci-bus-master-bug-migration", value: "on" },
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.1.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.1.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.1.0" },
      { driver: "coreduo-x86_64-cpu", property: "vmx", value: "on" },
      { driver: "core2duo-x86_64-cpu", property: "vmx", value: "on" },
    ],
    notes: [
      "hw_version 2.1.0",
      "default VGA is cirrus-vga (1013:00b8), not VGA (1234:1111), without -vga/-nodefaults (default_display=NULL)",
      "smbios_uuid_encoded=false: SMBIOS type 1 UUID in legacy (big-endian) byte order",
      "enforce_aligned_dimm=false: hotplugged DIMMs not aligned to the backend page size",
      "svm not enabled by default under KVM (pc_compat_2_1_fn; KVM only)",
    ],
  },
  // pc-i440fx-2.0: no hw_compat array (none exists below 2.1) + pc_compat_2_0[] (13)
  {
    version: "2.0",
    description: I440FX,
    // acpi_data_size=0x10000: a smaller reserved ACPI area at the top of low RAM (a -kernel's initrd ends below it)
    classFields: { hwVersion: "2.0.0", acpiDataSize: 0x10000 },
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.0.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.0.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 2.0.0" },
      { driver: "virtio-scsi-pci", property: "any_layout", value: "off" },
      { driver: "PIIX4_PM", property: "memory-hotplug-support", value: "off" },
      { driver: "apic", property: "version", value: "0x11" },
      { driver: "nec-usb-xhci", property: "superspeed-ports-first", value: "off" },
      { driver: "nec-usb-xhci", property: "force-pcie-endcap", value: "on" },
      { driver: "pci-serial", property: "prog_if", value: "0" },
      { driver: "pci-serial-2x", property: "prog_if", value: "0" },
      { driver: "pci-serial-4x", property: "prog_if", value: "0" },
      { driver: "virtio-net-pci", property: "guest_announce", value: "off" },
      { driver: "ICH9-LPC", property: "memory-hotplug-support", value: "off" },
    ],
    notes: [
      "hw_version 2.0.0",
      "smbios_legacy_mode: SMBIOS passed as legacy per-field fw_cfg entries, tables built by the firmware",
      "has_reserved_memory=false: no memory-hotplug region, no etc/reserved-memory-end",
      "legacy_acpi_table_size=6652: legacy ACPI blob padding",
    ],
  },
  // pc-i440fx-1.7: no hw_compat array (none exists below 2.1) + pc_compat_1_7[] (6)
  {
    version: "1.7",
    description: I440FX,
    // gigabyte_align=false: with >= 3.5 GiB of RAM, low RAM ends at 0xe0000000, not 0xc0000000
    classFields: { gigabyteAlign: false, hwVersion: "1.7.0" },
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.7.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.7.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.7.0" },
      { driver: "usb-device", property: "msos-desc", value: "no" },
      { driver: "PIIX4_PM", property: "acpi-pci-hotplug-with-bridge-support", value: "off" },
      { driver: "hpet", property: "hpet-intcap", value: "4" },
    ],
    notes: [
      "hw_version 1.7.0",
      "firmware bios.bin (128 KiB) instead of bios-256k.bin (default_machine_opts=NULL)",
      "smbios_defaults=false: no default SMBIOS manufacturer/product strings",
      "legacy_acpi_table_size=6414",
      "x2apic not enabled by default under KVM (pc_compat_1_7_fn; KVM only)",
      'deprecated (with 1.6-1.4): -M help appends "(deprecated)"; warning "old and unattended - use a newer version instead"',
    ],
  },
  // pc-i440fx-1.6: no hw_compat array (none exists below 2.1) + pc_compat_1_6[] (8)
  {
    version: "1.6",
    description: I440FX,
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.6.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.6.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.6.0" },
      { driver: "e1000", property: "mitigation", value: "off" },
      { driver: "qemu64-x86_64-cpu", property: "model", value: "2" },
      { driver: "qemu32-x86_64-cpu", property: "model", value: "3" },
      { driver: "i440FX-pcihost", property: "short_root_bus", value: "1" },
      { driver: "q35-pcihost", property: "short_root_bus", value: "1" },
    ],
    // has_acpi_build=false: no etc/table-loader (nor ACPI tables); SeaBIOS keeps its PM base 0xb000 and builds its own ACPI tables
    classFields: { acpiBuild: false, hwVersion: "1.6.0" },
    notes: ["hw_version 1.6.0"],
  },
  // pc-i440fx-1.5: no hw_compat array (none exists below 2.1) + pc_compat_1_5[] (13)
  {
    version: "1.5",
    description: I440FX,
    classFields: { hwVersion: "1.5.0" },
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.5.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.5.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.5.0" },
      { driver: "Conroe-x86_64-cpu", property: "model", value: "2" },
      { driver: "Conroe-x86_64-cpu", property: "min-level", value: "2" },
      { driver: "Penryn-x86_64-cpu", property: "model", value: "2" },
      { driver: "Penryn-x86_64-cpu", property: "min-level", value: "2" },
      { driver: "Nehalem-x86_64-cpu", property: "model", value: "2" },
      { driver: "Nehalem-x86_64-cpu", property: "min-level", value: "2" },
      { driver: "virtio-net-pci", property: "any_layout", value: "off" },
      { driver: "x86_64-cpu", property: "pmu", value: "on" },
      { driver: "i440FX-pcihost", property: "short_root_bus", value: "0" },
      { driver: "q35-pcihost", property: "short_root_bus", value: "0" },
    ],
    notes: ["hw_version 1.5.0"],
  },
  // pc-i440fx-1.4: no hw_compat array (none exists below 2.1) + pc_compat_1_4[] (18)
  {
    version: "1.4",
    description: I440FX,
    classFields: { hwVersion: "1.4.0" },
    compat: [
      { driver: "qemu32-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.4.0" },
      { driver: "qemu64-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.4.0" },
      { driver: "athlon-x86_64-cpu", property: "model-id", value: "QEMU Virtual CPU version 1.4.0" },
      { driver: "scsi-hd", property: "discard_granularity", value: "0" },
      { driver: "scsi-cd", property: "discard_granularity", value: "0" },
      { driver: "ide-hd", property: "discard_granularity", value: "0" },
      { driver: "ide-cd", property: "discard_granularity", value: "0" },
      { driver: "virtio-blk-pci", property: "discard_granularity", value: "0" },
      { driver: "virtio-serial-pci", property: "vectors", value: "0xFFFFFFFF" },
      { driver: "virtio-net-pci", property: "ctrl_guest_offloads", value: "off" },
      { driver: "e1000", property: "romfile", value: "pxe-e1000.rom" },
      { driver: "ne2k_pci", property: "romfile", value: "pxe-ne2k_pci.rom" },
      { driver: "pcnet", property: "romfile", value: "pxe-pcnet.rom" },
      { driver: "rtl8139", property: "romfile", value: "pxe-rtl8139.rom" },
      { driver: "virtio-net-pci", property: "romfile", value: "pxe-virtio.rom" },
      { driver: "486-x86_64-cpu", property: "model", value: "0" },
      { driver: "n270-x86_64-cpu", property: "movbe", value: "off" },
      { driver: "Westmere-x86_64-cpu", property: "pclmulqdq", value: "off" },
    ],
    notes: [
      "hw_version 1.4.0",
      "virtio-serial-pci vectors=0xFFFFFFFF is DEV_NVECTORS_UNSPECIFIED: the device computes max_nr_ports + 1 (32 with the default 31 ports)",
    ],
  },
  // pc-0.11 (QEMU 0.12 hw/pc.c, pc_machine_v0_11.compat_props). There it sat over pc-0.12; here over
  // pc-i440fx-1.4 (the pc-0.12 … pc-1.3 deltas are not modelled). "PCI" = QEMU 0.12's name for all PCI devices.
  {
    version: "0.11",
    description: "Standard PC, qemu 0.11",
    classFields: { boardMakesDriveControllers: true },
    compat: [
      { driver: "virtio-blk-pci", property: "vectors", value: "0" },
      { driver: "ide-drive", property: "ver", value: "0.11" },
      { driver: "scsi-disk", property: "ver", value: "0.11" },
      { driver: "PCI", property: "rombar", value: "0" },
    ],
    notes: [
      "seed era: in QEMU 0.12 this list applied directly over pc-0.12 (alias pc), not over pc-i440fx-1.4",
      "virtio-blk-pci without MSI-X (vectors=0); PCI option ROMs not exposed through a ROM BAR (rombar=0)",
    ],
  },
  // pc-0.10 (QEMU 0.12 hw/pc.c, pc_machine_v0_10.compat_props, a full list of its own that repeats pc-0.11's
  // virtio-blk-pci vectors and PCI rombar entries). Values are stringify(PCI_CLASS_STORAGE_OTHER) and
  // stringify(PCI_CLASS_DISPLAY_OTHER).
  {
    version: "0.10",
    description: "Standard PC, qemu 0.10",
    compat: [
      { driver: "virtio-blk-pci", property: "class", value: "0x0180" },
      { driver: "virtio-console-pci", property: "class", value: "0x0380" },
      { driver: "virtio-net-pci", property: "vectors", value: "0" },
      { driver: "virtio-blk-pci", property: "vectors", value: "0" },
      { driver: "ide-drive", property: "ver", value: "0.10" },
      { driver: "scsi-disk", property: "ver", value: "0.10" },
      { driver: "PCI", property: "rombar", value: "0" },
    ],
    notes: [
      "seed era: virtio-net-pci and virtio-blk-pci without MSI-X (vectors=0; virtio-net got MSI-X in 0.11, virtio-blk in 0.12); virtio-blk class 0x0180 (storage other), virtio-console class 0x0380 (display other)",
    ],
  },
];
