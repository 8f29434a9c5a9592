import { MachbusError } from "../errors.js";
import { parseOptionList } from "./device-spec.js";

/** A disk image on this host that a device names with `drive=ID`. */
export interface HostDrive {
  id: string;
  file: string;
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

/** QEMU's `-drive if=none,id=ID,file=PATH[,format=F][,readonly=on]` as a host drive entry. */
export function parseDriveOption(text: string): HostDrive {
  const { head, pairs } = parseOptionList(text, "drive");
  const values = new Map(pairs);
  if (head) values.set("file", values.get("file") ?? head);
  const allowed = new Set(["if", "id", "file", "format", "readonly"]);
  for (const k of values.keys()) {
    if (!allowed.has(k))
      throw new MachbusError("spec-syntax", `drive '${text}': unknown option '${k}' (valid: ${[...allowed].join(", ")})`);
  }
  const id = values.get("id");
  const file = values.get("file");
  if (!id) throw new MachbusError("spec-syntax", `drive '${text}': needs id=NAME (devices refer to it as drive=NAME)`);
  if (!file) throw new MachbusError("spec-syntax", `drive '${text}': needs file=PATH`);
  if ((values.get("if") ?? "none") !== "none") {
    throw new MachbusError(
      "spec-syntax",
      `drive '${text}': only if=none drives are modelled (attach them with a device's drive= property)`,
    );
  }
  const drive: HostDrive = { id, file, if: "none" };
  const format = values.get("format");
  if (format) drive.format = format;
  if (values.has("readonly")) drive.readonly = ["on", "yes", "true"].includes(values.get("readonly")!);
  return drive;
}
