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
  /** `bytes` may be a view of the caller's stream: copy what is kept, do not hold on to it. */
  load(bytes: Uint8Array, version: number): void;
}

/**
 * `check` for a part with one layout (version 1) of a fixed length; `holds` names the contents
 * for the error, e.g. "a MAC address".
 */
export function fixedLayoutCheck(name: string, length: number, holds = `${length} bytes`): StatePart["check"] {
  return (bytes, version) =>
    version === 1 && bytes.length === length
      ? null
      : `${name} state (version ${version}, ${bytes.length} bytes) is not version 1 of ${holds}`;
}
