import { MachbusError } from "../errors.js";
import { checkIdentifier, parseOptionList } from "../machine/device-spec.js";
import type { HostDrive } from "../machine/host-config.js";
import { parseInteger } from "../machine/properties.js";

/** The interfaces `-drive if=` names in QEMU 7.2 (its if_name table), and the ones machbus models. */
const QEMU_INTERFACES = ["none", "ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "xen"] as const;
export type DriveInterface = "none" | "ide" | "scsi" | "virtio";
const MODELLED: readonly string[] = ["none", "ide", "scsi", "virtio"];
/** Units per bus for `index=` (QEMU's if_max_devs, "ABI": index N is bus N / max, unit N % max). */
const MAX_DEVS: Record<DriveInterface, number> = { none: 0, ide: 2, scsi: 7, virtio: 0 };
/** Options machbus reads; other QEMU drive options reach the block driver, which refuses names it does not know. */
const OPTIONS = new Set(["if", "id", "file", "format", "readonly", "bus", "unit", "index", "media"]);

/** A `-drive` with an interface: QEMU creates its device (ide-hd, ide-cd, virtio-blk-pci) or says it cannot. */
export interface LegacyDrive {
  /** The host drive's id: given, or QEMU's name for it ("ide0-hd1", "virtio0"). */
  readonly id: string;
  readonly interface: Exclude<DriveInterface, "none">;
  readonly bus: number;
  readonly unit: number;
  readonly media: "disk" | "cdrom";
  /** "-drive TEXT", for messages. */
  readonly where: string;
}

export interface ParsedDrives {
  /** Every drive as a host backend (the ones with an interface too: their devices name them). */
  readonly drives: HostDrive[];
  /** The drives whose interface makes the machine create a device, in command-line order. */
  readonly legacy: LegacyDrive[];
}

/**
 * QEMU's `-drive` options in command-line order (drive_new): an interface (`if=`, the board's
 * default when absent), an address from `index=` or `bus=`/`unit=` (the first free unit when
 * unset), `media=cdrom`, and QEMU's name for a drive without `id=`. Errors are QEMU's texts,
 * located at the option.
 */
export function parseDrives(texts: readonly string[], defaultInterface: DriveInterface): ParsedDrives {
  const parts = texts.map((text) => {
    try {
      return { text, ...parseOptionList(text, "drive") };
    } catch (e) {
      throw e instanceof MachbusError ? e.within(`-drive ${text}`) : e;
    }
  });
  // QEMU parses every -drive before it sets any up: a duplicate id is the first complaint.
  const ids = new Set<string>();
  for (const { text, pairs } of parts) {
    const id = new Map(pairs).get("id");
    if (id === undefined) continue;
    if (ids.has(id)) throw new MachbusError("duplicate-id", `Duplicate ID '${id}' for drive`).within(`-drive ${text}`);
    ids.add(id);
  }
  const drives: HostDrive[] = [];
  const legacy: LegacyDrive[] = [];
  const taken = new Set<string>(); // "if bus unit"
  for (const { text, head, pairs } of parts) {
    try {
      const { drive, address } = parseOne(head, pairs, defaultInterface, taken);
      drives.push(drive);
      if (address.interface !== "none") legacy.push({ id: drive.id, ...address, interface: address.interface, where: `-drive ${text}` });
    } catch (e) {
      throw e instanceof MachbusError ? e.within(`-drive ${text}`) : e;
    }
  }
  return { drives, legacy };
}

function parseOne(
  head: string | null,
  pairs: readonly [string, string][],
  defaultInterface: DriveInterface,
  taken: Set<string>,
): { drive: HostDrive; address: { interface: DriveInterface; bus: number; unit: number; media: "disk" | "cdrom" } } {
  const values = new Map(pairs);
  if (head) values.set("file", values.get("file") ?? head);
  const number = (name: string, unset: number): number => {
    const text = values.get(name);
    if (text === undefined) return unset;
    const v = parseInteger(text);
    if (v === null) throw new MachbusError("spec-syntax", `Parameter '${name}' expects a number`);
    return v;
  };
  let index = number("index", -1);
  let bus = number("bus", 0);
  let unit = number("unit", -1);
  const mediaText = values.get("media");
  if (mediaText !== undefined && mediaText !== "disk" && mediaText !== "cdrom") {
    throw new MachbusError("spec-syntax", `'${mediaText}' invalid media`);
  }
  const media = mediaText === "cdrom" ? "cdrom" : "disk";
  const ifText = values.get("if");
  if (ifText !== undefined && !(QEMU_INTERFACES as readonly string[]).includes(ifText)) {
    throw new MachbusError("spec-syntax", `unsupported bus type '${ifText}'`);
  }
  if (ifText !== undefined && !MODELLED.includes(ifText)) {
    throw new MachbusError("drive-unsupported", `if=${ifText} drives are not modelled (modelled: ${MODELLED.join(", ")})`);
  }
  const iface = (ifText ?? defaultInterface) as DriveInterface;
  const max = MAX_DEVS[iface];
  if (index < 0) index = -1;
  if (index !== -1) {
    if (bus !== 0 || unit !== -1) throw new MachbusError("spec-syntax", "index cannot be used with bus and unit");
    bus = max ? Math.floor(index / max) : 0;
    unit = max ? index % max : index;
  }
  const key = (u: number, b: number) => `${iface} ${b} ${u}`;
  if (unit === -1) {
    unit = 0;
    while (taken.has(key(unit, bus))) {
      unit++;
      if (max && unit >= max) {
        unit -= max;
        bus++;
      }
    }
  }
  if (max && unit >= max) throw new MachbusError("bad-address", `unit ${unit} too big (max is ${max - 1})`);
  if (taken.has(key(unit, bus))) {
    throw new MachbusError("unit-unavailable", `drive with bus=${bus}, unit=${unit} (index=${index}) exists`);
  }
  taken.add(key(unit, bus));
  const format = values.get("format");
  for (const k of values.keys()) {
    if (!OPTIONS.has(k)) throw new MachbusError("spec-syntax", `Block format '${format ?? "raw"}' does not support the option '${k}'`);
  }
  const mediaName = iface === "ide" || iface === "scsi" ? (media === "cdrom" ? "-cd" : "-hd") : "";
  const given = values.get("id");
  if (given !== undefined) checkIdentifier(given);
  const id = given ?? (max ? `${iface}${bus}${mediaName}${unit}` : `${iface}${mediaName}${unit}`);
  // Keys in the order machine files have them, so a dump reads back into the same text.
  const drive: HostDrive = { id };
  const file = values.get("file");
  if (file) drive.file = file;
  if (format) drive.format = format;
  if (iface === "none") drive.if = "none";
  if (values.has("readonly")) drive.readonly = ["on", "yes", "true"].includes(values.get("readonly")!);
  if (media === "cdrom") drive.readonly = true;
  return { drive, address: { interface: iface, bus, unit, media } };
}
