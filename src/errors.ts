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
  constructor(
    readonly code: MachbusErrorCode,
    message: string,
    /** Where the mistake is, e.g. "-device e1000,addr=5" or "m.yaml: devices[2]"; the CLI prefixes it. */
    readonly context?: string,
  ) {
    super(message);
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

export function isMachbusError(e: unknown): e is MachbusError {
  return e instanceof MachbusError;
}
