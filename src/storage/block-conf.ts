import { MachbusError } from "../errors.js";
import { hostLink, prop, types } from "../machine/properties.js";

/*
 * What every block device shares (QEMU's hw/block/block.c, hw-block-common and hd-geometry.c):
 * the block properties, the checks on block sizes, and the disk geometry QEMU guesses from the
 * image size. Disk contents are not modelled: the size is all machbus knows of an image, so the
 * geometry is the one QEMU guesses for an image without a partition table.
 */

export const SECTOR = 512;
const BLOCK_SIZE_MAX = 2 * 1024 * 1024;
/** QEMU's unset discard_granularity (-1 in a uint32): the device picks its own. */
export const DISCARD_UNSET = 0xffffffff;
/** The image size machbus assumes when the host cannot say (no file, or an embedder that gave no sizes). */
export const DEFAULT_IMAGE_SIZE = 1024 * 1024;

const onOffAuto = types.enumOf(["auto", "on", "off"] as const);
const onError = types.enumOf(["report", "ignore", "enospc", "stop", "auto"] as const);
const NO_EFFECT = " (no effect on the guest view)";

/** QEMU's DEFINE_BLOCK_PROPERTIES and DEFINE_BLOCK_ERROR_PROPERTIES, in its order. */
export const blockProperties = {
  drive: prop(hostLink("drive"), "", "Node name or ID of a block device to use as a backend (no I/O is done)"),
  backend_defaults: prop(onOffAuto, "auto", "takes block sizes from the backend (a plain image has none to give)"),
  logical_block_size: prop(types.size, 0, "A power of two between 512 B and 2 MiB (0: 512)"),
  physical_block_size: prop(types.size, 0, "A power of two between 512 B and 2 MiB (0: 512)"),
  min_io_size: prop(types.size, 0, "a multiple of logical_block_size"),
  opt_io_size: prop(types.size, 0, "a multiple of logical_block_size"),
  discard_granularity: prop(types.size, DISCARD_UNSET, "in bytes; 4294967295: the device's default"),
  "write-cache": prop(onOffAuto, "auto", "write cache" + NO_EFFECT),
  "share-rw": prop(types.bool, false, "lets other users write the image" + NO_EFFECT),
  "account-invalid": prop(onOffAuto, "auto", "counts invalid requests in statistics" + NO_EFFECT),
  "account-failed": prop(onOffAuto, "auto", "counts failed requests in statistics" + NO_EFFECT),
  rerror: prop(onError, "auto", "Error handling policy, report/ignore/enospc/stop/auto" + NO_EFFECT),
  werror: prop(onError, "auto", "Error handling policy, report/ignore/enospc/stop/auto" + NO_EFFECT),
};

/** QEMU's DEFINE_BLOCK_CHS_PROPERTIES: the physical geometry (0: guessed) and the BIOS's logical one. */
export const chsProperties = {
  cyls: prop(types.uint32, 0, "cylinders (0 with heads and secs: guessed from the image size)"),
  heads: prop(types.uint32, 0, "heads"),
  secs: prop(types.uint32, 0, "sectors per track"),
  lcyls: prop(types.uint32, 0, "BIOS logical geometry cylinders" + NO_EFFECT),
  lheads: prop(types.uint32, 0, "BIOS logical geometry heads" + NO_EFFECT),
  lsecs: prop(types.uint32, 0, "BIOS logical geometry sectors" + NO_EFFECT),
};

interface BlockSizeProps {
  logical_block_size: number;
  physical_block_size: number;
  min_io_size: number;
  opt_io_size: number;
  discard_granularity: number;
}

/** The checks QEMU's block-size properties make when they are set (DEFINE_PROP_BLOCKSIZE). */
export function checkBlockSizeProperties(props: BlockSizeProps): void {
  for (const name of ["logical_block_size", "physical_block_size"] as const) {
    const v = props[name];
    if (v === 0) continue;
    if (v < SECTOR || v > BLOCK_SIZE_MAX) {
      throw new MachbusError(
        "bad-property-value",
        `Property .${name} doesn't take value ${v} (minimum: ${SECTOR}, maximum: ${BLOCK_SIZE_MAX})`,
      );
    }
    if ((v & (v - 1)) !== 0)
      throw new MachbusError("bad-property-value", `Property .${name} doesn't take value '${v}', it's not a power of 2`);
  }
}

/**
 * QEMU's blkconf_blocksizes for an image file (which reports no block sizes of its own): unset
 * sizes are 512, then the checks, in QEMU's order and with its texts.
 */
export function blockSizes(props: BlockSizeProps): { logical: number; physical: number } {
  const physical = props.physical_block_size || SECTOR;
  const logical = props.logical_block_size || SECTOR;
  if (logical > physical) throw new MachbusError("bad-property-value", "logical_block_size > physical_block_size not supported");
  if (props.min_io_size % logical) throw new MachbusError("bad-property-value", "min_io_size must be a multiple of logical_block_size");
  if (props.min_io_size / logical > 0xffff)
    throw new MachbusError("bad-property-value", "min_io_size must not exceed 65535 logical blocks");
  if (props.opt_io_size % logical) throw new MachbusError("bad-property-value", "opt_io_size must be a multiple of logical_block_size");
  if (props.discard_granularity !== DISCARD_UNSET && props.discard_granularity % logical) {
    throw new MachbusError("bad-property-value", "discard_granularity must be a multiple of logical_block_size");
  }
  return { logical, physical };
}

export interface Geometry {
  cyls: number;
  heads: number;
  secs: number;
}

/** QEMU's guess_chs_for_size: 16 heads, 63 sectors, as many cylinders as fit (2 to 16383). */
export function guessGeometry(imageBytes: number): Geometry {
  const sectors = Math.ceil(imageBytes / SECTOR);
  return { cyls: Math.min(Math.max(Math.floor(sectors / (16 * 63)), 2), 16383), heads: 16, secs: 63 };
}

/** QEMU's hd_bios_chs_auto_trans: no translation while the BIOS's CHS limits hold, LBA past them. */
export function autoTranslation(g: Geometry): "none" | "lba" {
  return g.cyls <= 1024 && g.heads <= 16 && g.secs <= 63 ? "none" : "lba";
}

/**
 * QEMU's blkconf_geometry: the given geometry, or the guess when cyls, heads and secs are all 0;
 * then the range checks for the device's limits.
 */
export function blockGeometry(given: Geometry, imageBytes: number, max: Geometry): Geometry {
  const g = !given.cyls && !given.heads && !given.secs ? guessGeometry(imageBytes) : { ...given };
  if (g.cyls < 1 || g.cyls > max.cyls) throw new MachbusError("bad-property-value", `cyls must be between 1 and ${max.cyls}`);
  if (g.heads < 1 || g.heads > max.heads) throw new MachbusError("bad-property-value", `heads must be between 1 and ${max.heads}`);
  if (g.secs < 1 || g.secs > max.secs) throw new MachbusError("bad-property-value", `secs must be between 1 and ${max.secs}`);
  return g;
}
