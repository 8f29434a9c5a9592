/**
 * pc-q35 compat properties, QEMU 7.2: for every versioned type from 7.1 down to 2.4, what it adds
 * over the next newer type. `pc_q35_X_Y_machine_options()` in hw/i386/pc_q35.c applies the same
 * arrays as the i440FX types (`hw_compat_X_Y[]`, then `pc_compat_X_Y[]`), so every delta is the
 * pc-i440fx one of its version (machines/pc-compat.ts), with one twist: pc-q35-4.0.1 (the
 * 4.0-stable default) applies the 4.0 arrays, and pc-q35-4.0 adds nothing over 4.0.1. The same
 * functions set the machine-class fields of pc-compat.ts for q35 too (enforce_amd_1tb_hole off
 * in 7.0, legacy_fw_cfg_order in 2.5), so those deltas come along.
 *
 * Checked against the installed QEMU 7.2: for every pc-q35 type, `info qtree` shows the same
 * property values as on the pc-i440fx type of its version for e1000e, virtio-net-pci, e1000,
 * virtio-blk-pci, virtio-balloon-pci and pci-bridge (test/fixtures/qemu/q35/compat-check.json).
 */
import { PC_VERSIONS, type PcVersion } from "./pc-compat.js";

export const Q35_DESCRIPTION = "Standard PC (Q35 + ICH9, 2009)";

/** The i440FX version whose arrays a q35 version applies ("" for none). */
const ARRAYS_OF: Record<string, string> = { "4.0.1": "4.0", "4.0": "" };

/** What pc_q35_X_Y_machine_options sets besides compat properties. */
const NOTES: Record<string, readonly string[]> = {
  "7.0": [
    "enforce_amd_1tb_hole=false: the AMD 1 TiB HyperTransport hole is not avoided when placing above-4G RAM and the 64-bit PCI window",
  ],
  "6.1": ["smp prefer_sockets: -smp N without a topology fills sockets, not cores (CPU/SMBIOS topology)"],
  "5.1": ["kvmclock_create_always=false; pci_root_uid=1: ACPI _UID of the root PCI bus is 1"],
  "5.0": ["numa_mem_supported; auto_enable_numa_with_memdev=false"],
  "4.0.1": ["default_cpu_version=CPU_VERSION_LEGACY: -cpu models are not resolved to versioned aliases (CPUID only)"],
  "4.0": ["default_kernel_irqchip_split=true (KVM only)"],
  "3.1": ["smbus_no_migration_support; pvh_enabled=false; default_kernel_irqchip_split=false again"],
  "2.11": ["default_nic_model=e1000 (e1000e from 2.12): only without -nodefaults"],
  "2.10": ["auto_enable_numa_with_memhp=false"],
  "2.7": ["max_cpus=255"],
  "2.6": ["legacy_cpu_hotplug; fw_cfg without DMA (fwcfg_dma_enabled=false)"],
  "2.5": ["save_tsc_khz=false"],
  "2.4": ['hw_version "2.4.0"; broken_reserved_end'],
};

/** Newest first: 7.1, 7.0, …, 4.1, 4.0.1, 4.0, 3.1, …, 2.4. (7.2 itself adds nothing.) Same shape as the pc versions. */
export const Q35_VERSIONS: readonly PcVersion[] = [
  ...["7.1", "7.0", "6.2", "6.1", "6.0", "5.2", "5.1", "5.0", "4.2", "4.1", "4.0.1", "4.0", "3.1", "3.0"],
  ...["2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6", "2.5", "2.4"],
].map((version) => {
  const arrays = ARRAYS_OF[version] ?? version;
  const pc = arrays ? PC_VERSIONS.find((v) => v.version === arrays) : undefined;
  if (arrays && !pc) throw new Error(`pc-q35-${version}: no pc-i440fx-${arrays} compat list`);
  const notes = NOTES[version];
  return {
    version,
    description: Q35_DESCRIPTION,
    compat: pc?.compat ?? [],
    ...(pc?.classFields ? { classFields: pc.classFields } : {}),
    ...(notes ? { notes } : {}),
  };
});
