import { MachbusError } from "../errors.js";
import { parseDrives } from "../storage/legacy-drives.js";
import { checkIdentifier, parseOptionList } from "./device-spec.js";

/** A disk image on this host that a device names with `drive=ID`. */
export interface HostDrive {
  id: string;
  /** The image; absent for an empty drive (a CD-ROM drive without a disc). */
  file?: string | undefined;
  format?: string | undefined;
  /** QEMU's if=none: the drive is a backend for a device. */
  if?: "none" | undefined;
  readonly?: boolean | undefined;
}

/** A network backend on this host that a device names with `netdev=ID`. */
export interface HostNetdev {
  id: string;
  type: string;
  options?: Record<string, string | number | boolean> | undefined;
}

/**
 * The host side of a machine: the backends devices refer to by name. It never changes a
 * guest-visible byte (machine files keep it apart: src/state/machine-config.ts).
 */
export interface HostConfig {
  drives?: HostDrive[] | undefined;
  netdevs?: HostNetdev[] | undefined;
}

/**
 * One `-drive` option that names a host backend (`if=none,id=ID,file=PATH[,format=F][,readonly=on]`)
 * as a host drive entry. Drives with an interface (if=ide, ...) describe guest devices too: a
 * machine takes those through MachineOptions.drives (src/storage/legacy-drives.ts).
 */
export function parseDriveOption(text: string): HostDrive {
  const { drives, legacy } = parseDrives([text], "none");
  if (legacy.length) {
    throw new MachbusError(
      "spec-syntax",
      `drive '${text}': if=${legacy[0]!.interface} makes a device: give it as a machine's drives, not as a host drive`,
    );
  }
  return drives[0]!;
}

/** QEMU 7.2's -netdev types (NetClientDriver) a Linux build offers. */
const NETDEV_TYPES = new Set([
  "user",
  "tap",
  "bridge",
  "socket",
  "stream",
  "dgram",
  "vde",
  "l2tpv3",
  "hubport",
  "netmap",
  "vhost-user",
  "vhost-vdpa",
]);

/**
 * One `-netdev TYPE,id=ID[,KEY=VALUE]...` as a host network backend (what `netdev=ID` names).
 * Only the type and id are checked, with QEMU's texts: machbus moves no packets, so the backend's
 * own options are kept as given.
 */
export function parseNetdevOption(text: string): HostNetdev {
  const where = `-netdev ${text}`;
  const { head, pairs } = parseOptionList(text, "netdev");
  let type = head;
  let id: string | null = null;
  const options: [string, string][] = [];
  for (const [k, v] of pairs) {
    if (k === "type") type = v;
    else if (k === "id") id = v;
    else options.push([k, v]);
  }
  if (type === null || !NETDEV_TYPES.has(type)) {
    throw new MachbusError(
      "spec-syntax",
      type === null ? "Parameter 'type' is missing" : `Parameter 'type' does not accept value '${type}'`,
      where,
    );
  }
  if (id === null) throw new MachbusError("spec-syntax", "Parameter 'id' is missing", where);
  try {
    checkIdentifier(id);
  } catch (e) {
    throw (e as MachbusError).within(where);
  }
  return options.length ? { id, type, options: Object.fromEntries(options) } : { id, type };
}
