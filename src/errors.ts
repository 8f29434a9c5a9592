/**
 * Every error a user can cause is a MachbusError with a stable `code`, so callers branch on the
 * code and the CLI prints the message alone (never a stack trace for a user's mistake).
 */
export type MachbusErrorCode =
  // config space and capabilities
  | "capability-no-space"
  | "capability-overlap"
  | "capability-bad-offset"
  | "capability-bad-size"
  | "capability-not-found"
  // BARs and address spaces
  | "bar-invalid"
  | "region-invalid"
  // device specs, properties, drivers
  | "spec-syntax"
  | "unknown-driver"
  | "driver-invalid"
  | "unknown-property"
  | "bad-property-value"
  | "duplicate-id"
  // machines
  | "unknown-machine"
  | "machine-type-invalid"
  // addresses and slots
  | "bad-address"
  | "slot-unavailable"
  | "no-slot"
  | "multifunction"
  | "unknown-bus"
  | "unknown-device"
  | "not-hotpluggable"
  // child buses and drives (IDE units, SCSI targets and LUNs, -drive)
  | "wrong-bus"
  | "unit-unavailable"
  | "drive-in-use"
  | "drive-unsupported"
  // allocation policies and address-space layout
  | "unknown-allocator"
  | "allocator-invalid"
  | "layout-exhausted"
  // experiments and the job queue they run on
  | "experiment-invalid"
  | "queue-unreachable"
  | "package-missing"
  // monitor
  | "monitor-syntax"
  | "monitor-unknown-command"
  // files and state
  | "file-invalid"
  | "script-failed"
  | "state-invalid"
  | "migration-refused"
  // firmware runs on an embedded CPU
  | "embed-not-ready"
  | "embed-ram"
  | "firmware-timeout"
  | "kernel-invalid"
  | "initrd-invalid";

export class MachbusError extends Error {
  override readonly name = "MachbusError";
  /** Where the mistake is, e.g. "-device e1000,addr=5" or "m.yaml: devices[2]"; the CLI prefixes it. */
  readonly context?: string;
  constructor(
    readonly code: MachbusErrorCode,
    message: string,
    context?: string,
  ) {
    super(clip(message));
    if (context !== undefined) this.context = clip(context);
  }

  /** The same error located in `context` (an outer location goes first). */
  within(context: string): MachbusError {
    return new MachbusError(this.code, this.message, this.context ? `${context}: ${this.context}` : context);
  }

  /** "context: message", as the CLI prints it. */
  describe(): string {
    return this.context ? `${this.context}: ${this.message}` : this.message;
  }
}

/** The longest word (a run without spaces) an error repeats from what it was given. */
const MAX_ECHOED_WORD = 256;

/**
 * `text` with every word longer than MAX_ECHOED_WORD cut short and its length named: errors echo
 * what the user typed (a 100,000-character driver name), and stay one readable line.
 */
export function clip(text: string, max = MAX_ECHOED_WORD): string {
  if (text.length <= max) return text;
  return text.replace(new RegExp(`\\S{${max + 1},}`, "g"), (word) => `${word.slice(0, max)}... (${word.length} characters)`);
}

export function isMachbusError(e: unknown): e is MachbusError {
  return e instanceof MachbusError;
}
