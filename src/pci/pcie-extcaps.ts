import { setLe, getLe } from "./config-space.js";
import { PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_SERR, PCI_STATUS, PCI_STATUS_SIG_SYSTEM_ERROR } from "./constants.js";
import type { PciDevice } from "./device.js";
import { PCIE_TYPE, type PcieCapability } from "./pcie.js";

/**
 * PCI Express extended capabilities as QEMU 7.2 lays them out (hw/pci/pcie.c, pcie_aer.c): the
 * device chooses each offset, QEMU's way; the list is appended to from 0x100.
 */

export const PCI_EXT_CAP_ID_ERR = 0x01;
export const PCI_EXT_CAP_ID_DSN = 0x03;
export const PCI_EXT_CAP_ID_ACS = 0x0d;
export const PCI_EXT_CAP_ID_ARI = 0x0e;
export const PCI_EXT_CAP_ID_ATS = 0x0f;

// Advanced Error Reporting (registers from the capability's start).
export const PCI_ERR_VER = 2;
export const PCI_ERR_SIZEOF = 0x48;
export const PCI_ERR_UNCOR_STATUS = 0x04;
export const PCI_ERR_UNCOR_MASK = 0x08;
export const PCI_ERR_UNCOR_SEVER = 0x0c;
export const PCI_ERR_COR_STATUS = 0x10;
export const PCI_ERR_COR_MASK = 0x14;
export const PCI_ERR_CAP = 0x18;
export const PCI_ERR_ROOT_COMMAND = 0x2c;
export const PCI_ERR_ROOT_STATUS = 0x30;
export const PCI_ERR_CAP_ECRC_GENC = 0x20;
export const PCI_ERR_CAP_ECRC_GENE = 0x40;
export const PCI_ERR_CAP_ECRC_CHKC = 0x80;
export const PCI_ERR_CAP_ECRC_CHKE = 0x100;
export const PCI_ERR_CAP_MHRC = 0x200;
export const PCI_ERR_CAP_MHRE = 0x400;
/** Uncorrectable errors QEMU emulates: DLP, SDN, poisoned TLP, FCP, completion timeout/abort, unexpected completion, overflow, malformed, ECRC, UR, ACS, internal, MC blocked, atomic-op and TLP-prefix blocked. */
export const PCI_ERR_UNC_SUPPORTED = 0x03ff_f030;
/** DLP, SDN, FCP, receiver overflow, malformed TLP, internal error: fatal by default. */
export const PCI_ERR_UNC_SEVERITY_DEFAULT = 0x0046_2030;
/** Receiver error, bad TLP/DLLP, replay rollover/timeout, advisory non-fatal, corrected internal, header log overflow. */
export const PCI_ERR_COR_SUPPORTED = 0x0000_f1c1;
/** Advisory non-fatal, corrected internal and header log overflow start masked. */
export const PCI_ERR_COR_MASK_DEFAULT = 0x0000_e000;
export const PCI_ERR_ROOT_CMD_EN_MASK = 0x7;
export const PCI_ERR_ROOT_STATUS_REPORT_MASK = 0x7f;
export const PCI_ERR_ROOT_IRQ = 0xf8000000;

// Access Control Services.
export const PCI_ACS_VER = 1;
export const PCI_ACS_SIZEOF = 8;
export const PCI_ACS_CAP = 0x04;
export const PCI_ACS_CTRL = 0x06;
/** Source validation, translation blocking, request/completion redirect, upstream forwarding, direct translated P2P. */
export const PCI_ACS_DOWNSTREAM_PORT_BITS = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0040;

// Alternative Routing-ID Interpretation and device serial number.
export const PCI_ARI_VER = 1;
export const PCI_ARI_SIZEOF = 8;
export const PCI_ARI_CAP = 0x04;
export const PCI_EXT_CAP_DSN_SIZEOF = 12;

/**
 * QEMU's pcie_aer_init: AER at `offset`. Status bits of the supported errors are
 * write-1-to-clear; severity and correctable masks are writable with QEMU's defaults; with a
 * header log (`logMax` > 0, QEMU's aer_log_max) multiple header recording is capable and
 * enableable. Switch and root ports also get the bridge control's SERR enable writable.
 * Errors are not injected here, so the guest's writes need no further handling.
 */
export function aerInit(device: PciDevice, cap: PcieCapability, options: { offset: number; logMax: number }): number {
  const at = device.extendedCapabilities.add(PCI_EXT_CAP_ID_ERR, PCI_ERR_VER, PCI_ERR_SIZEOF, options.offset);
  const s = device.config;
  setLe(s.w1cmask, at + PCI_ERR_UNCOR_STATUS, PCI_ERR_UNC_SUPPORTED, 4);
  s.set32(at + PCI_ERR_UNCOR_SEVER, PCI_ERR_UNC_SEVERITY_DEFAULT);
  setLe(s.wmask, at + PCI_ERR_UNCOR_SEVER, PCI_ERR_UNC_SUPPORTED, 4);
  setLe(s.w1cmask, at + PCI_ERR_COR_STATUS, getLe(s.w1cmask, at + PCI_ERR_COR_STATUS, 4) | PCI_ERR_COR_SUPPORTED, 4);
  s.set32(at + PCI_ERR_COR_MASK, PCI_ERR_COR_MASK_DEFAULT);
  setLe(s.wmask, at + PCI_ERR_COR_MASK, PCI_ERR_COR_SUPPORTED, 4);
  const headerLog = options.logMax > 0;
  s.set32(at + PCI_ERR_CAP, PCI_ERR_CAP_ECRC_GENC | PCI_ERR_CAP_ECRC_CHKC | (headerLog ? PCI_ERR_CAP_MHRC : 0));
  setLe(s.wmask, at + PCI_ERR_CAP, PCI_ERR_CAP_ECRC_GENE | PCI_ERR_CAP_ECRC_CHKE | (headerLog ? PCI_ERR_CAP_MHRE : 0), 4);
  const type = cap.type;
  if (type === PCIE_TYPE.rootPort || type === PCIE_TYPE.downstream || type === PCIE_TYPE.upstream) {
    setLe(s.wmask, PCI_BRIDGE_CONTROL, getLe(s.wmask, PCI_BRIDGE_CONTROL, 2) | PCI_BRIDGE_CTL_SERR, 2);
    // QEMU sets this on the primary status (where it already is write-1-to-clear), not the secondary one.
    setLe(s.w1cmask, PCI_STATUS, getLe(s.w1cmask, PCI_STATUS, 4) | PCI_STATUS_SIG_SYSTEM_ERROR, 4);
  }
  return at;
}

/**
 * QEMU's pcie_aer_root_init: a root port's error command enables and status bits; and its
 * pcie_aer_root_write_config, which runs after every config write of the port (register this
 * after the slot): without MSI or MSI-X (`messageSignalled`) it sets the port's INTx to whether
 * an enabled root error is pending, so any write drops an INTx a slot event raised, as on QEMU.
 * Errors are not injected here, so none is ever pending and no AER message is sent.
 */
export function aerRootInit(device: PciDevice, aer: number, messageSignalled: () => boolean): void {
  const s = device.config;
  setLe(s.wmask, aer + PCI_ERR_ROOT_COMMAND, PCI_ERR_ROOT_CMD_EN_MASK, 4);
  setLe(s.w1cmask, aer + PCI_ERR_ROOT_STATUS, PCI_ERR_ROOT_STATUS_REPORT_MASK, 4);
  // The interrupt message number changes by device-specific means: not checked on load.
  setLe(s.cmask, aer + PCI_ERR_ROOT_STATUS, ~PCI_ERR_ROOT_IRQ >>> 0, 4);
  device.function.onConfigWrite(0, s.size, () => {
    if (messageSignalled() || device.function.interruptPin === 0) return;
    const pending = aerStatusToCommand(s.get32(aer + PCI_ERR_ROOT_STATUS));
    device.function.setIrq((s.get32(aer + PCI_ERR_ROOT_COMMAND) & pending) !== 0);
  });
}

/** QEMU's pcie_aer_status_to_cmd: the command enable bit for each kind of error received. */
function aerStatusToCommand(status: number): number {
  return (status & 0x01 ? 0x1 : 0) | (status & 0x20 ? 0x2 : 0) | (status & 0x40 ? 0x4 : 0);
}

export function aerRootReset(device: PciDevice, aer: number): void {
  device.config.set32(aer + PCI_ERR_ROOT_COMMAND, 0);
}

/**
 * QEMU's pcie_acs_init: downstream ports announce (and let the guest enable) source
 * validation, translation blocking, P2P redirects, upstream forwarding and direct translated
 * P2P; endpoints (multifunction only) announce none. Returns the offset.
 */
export function acsInit(device: PciDevice, cap: PcieCapability, offset: number): number {
  const at = device.extendedCapabilities.add(PCI_EXT_CAP_ID_ACS, PCI_ACS_VER, PCI_ACS_SIZEOF, offset);
  const downstream = cap.type === PCIE_TYPE.rootPort || cap.type === PCIE_TYPE.downstream;
  const bits = downstream ? PCI_ACS_DOWNSTREAM_PORT_BITS : 0;
  device.config.set16(at + PCI_ACS_CAP, bits);
  setLe(device.config.wmask, at + PCI_ACS_CTRL, bits, 2);
  return at;
}

export function acsReset(device: PciDevice, acs: number): void {
  device.config.set16(acs + PCI_ACS_CTRL, 0);
}

/** QEMU's pcie_ari_init: the next function number in the ARI capability. */
export function ariInit(device: PciDevice, offset: number, nextFunction: number): number {
  const at = device.extendedCapabilities.add(PCI_EXT_CAP_ID_ARI, PCI_ARI_VER, PCI_ARI_SIZEOF, offset);
  device.config.set32(at + PCI_ARI_CAP, (nextFunction & 0xff) << 8);
  return at;
}

/**
 * QEMU's pcie_dev_ser_num_init: a 64-bit device serial number. `allowOverlap` as QEMU places it
 * regardless of other capabilities (e1000e's sits inside its AER capability).
 */
export function serialNumberInit(device: PciDevice, offset: number, serial: bigint, { allowOverlap = false } = {}): number {
  const at = device.extendedCapabilities.add(PCI_EXT_CAP_ID_DSN, 1, PCI_EXT_CAP_DSN_SIZEOF, offset, { allowOverlap });
  device.config.set32(at + 4, Number(serial & 0xffffffffn));
  device.config.set32(at + 8, Number((serial >> 32n) & 0xffffffffn));
  return at;
}
