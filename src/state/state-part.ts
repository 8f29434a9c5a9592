/**
 * A piece of device state beyond config space that a snapshot carries (the MSI-X table, a
 * device's registers): saved as versioned bytes, checked before anything is changed, then loaded.
 */
export interface StatePart {
  /** Unique within the device, e.g. "msix" or "registers". */
  readonly name: string;
  /** Version of the byte layout `save` writes; `check`/`load` see the version the stream has. */
  readonly version: number;
  save(): Uint8Array;
  /** Whether `bytes` can be loaded: null if so, else what is wrong. Must not change anything. */
  check(bytes: Uint8Array, version: number): string | null;
  load(bytes: Uint8Array, version: number): void;
}
