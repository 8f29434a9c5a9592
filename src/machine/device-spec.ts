import { MachbusError } from "../errors.js";

/** One `-device` argument split into its parts: `e1000,addr=5,id=net0`. */
export interface DeviceSpec {
  readonly driver: string;
  readonly id: string | null;
  /** `bus=ID`: the bus to plug into; null for the root bus. */
  readonly bus: string | null;
  /** Every other KEY=VALUE in the order given. */
  readonly props: ReadonlyArray<readonly [string, string]>;
  /** Where the spec came from, for errors ("m.yaml: devices[2] (e1000)"); default "-device SPEC". */
  readonly where?: string;
  /** The allocation policy that added this device (auto-bridge's bridges); dumps record it. */
  readonly addedBy?: string;
}

/**
 * Splits QEMU's option syntax `first,key=value,...`: `,,` is a literal comma, a bare `key`
 * means `key=on`. Returns the first item (when it has no `=`) and the pairs.
 */
export function parseOptionList(text: string, what: string): { head: string | null; pairs: [string, string][] } {
  const items: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === ",") {
      if (text[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      items.push(cur);
      cur = "";
    } else cur += ch;
  }
  items.push(cur);
  let head: string | null = null;
  const pairs: [string, string][] = [];
  items.forEach((item, index) => {
    const eq = item.indexOf("=");
    if (index === 0 && eq < 0) {
      head = item;
      return;
    }
    if (item === "") {
      throw new MachbusError("spec-syntax", `${what} '${text}': empty item at position ${index + 1}`);
    }
    if (eq === 0) throw new MachbusError("spec-syntax", `${what} '${text}': '${item}' has no key before '='`);
    pairs.push(eq < 0 ? [item, "on"] : [item.slice(0, eq), item.slice(eq + 1)]);
  });
  return { head, pairs };
}

/** Parses a device spec `DRIVER[,KEY=VALUE]...` (also accepts `driver=NAME` as QEMU does). */
export function parseDeviceSpec(text: string): DeviceSpec {
  const { head, pairs } = parseOptionList(text.trim(), "device spec");
  let driver = head;
  let id: string | null = null;
  let bus: string | null = null;
  const props: [string, string][] = [];
  for (const [k, v] of pairs) {
    if (k === "driver") driver = v;
    else if (k === "id") id = v;
    else if (k === "bus") bus = v;
    else props.push([k, v]);
  }
  if (!driver) throw new MachbusError("spec-syntax", `device spec '${text}': Parameter 'driver' is missing`);
  if (id !== null) checkIdentifier(id, `device spec '${text}': `);
  return { driver, id, bus, props };
}

/** QEMU's id_wellformed, for the ids of devices, drives and netdevs; `where` prefixes the error. */
export function checkIdentifier(id: string, where = ""): void {
  if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(id)) {
    throw new MachbusError("spec-syntax", `${where}Parameter 'id' expects an identifier (a letter, then letters, digits, '-', '.', '_')`);
  }
}

/** Formats a spec back to text (a dump's `device` lines, monitor echoes). */
export function formatDeviceSpec(spec: DeviceSpec): string {
  const esc = (s: string): string => s.replaceAll(",", ",,");
  const parts = [esc(spec.driver)];
  if (spec.id) parts.push(`id=${esc(spec.id)}`);
  if (spec.bus) parts.push(`bus=${esc(spec.bus)}`);
  for (const [k, v] of spec.props) parts.push(`${esc(k)}=${esc(v)}`);
  return parts.join(",");
}

/** A `-global DRIVER.PROP=VALUE` override. */
export interface GlobalProperty {
  readonly driver: string;
  readonly property: string;
  readonly value: string;
}

export function parseGlobal(text: string): GlobalProperty {
  const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(text);
  if (!m) {
    throw new MachbusError("spec-syntax", `global '${text}': expected DRIVER.PROPERTY=VALUE, e.g. e1000.mac=52:54:00:12:34:56`);
  }
  return { driver: m[1]!, property: m[2]!, value: m[3]! };
}
