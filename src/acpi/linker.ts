/**
 * QEMU's BIOS linker/loader script (hw/acpi/bios-linker-loader.c), the etc/table-loader file
 * SeaBIOS runs: allocate each blob, patch pointers between blobs with their final addresses,
 * compute checksums. Each command is a 128-byte entry.
 */
const ENTRY = 128;
const FILE_NAME = 56;
const enum Command {
  Allocate = 1,
  AddPointer = 2,
  AddChecksum = 3,
}
export const enum Zone {
  High = 1,
  FSeg = 2,
}

export class LinkerScript {
  private readonly entries: Uint8Array[] = [];

  allocate(file: string, align: number, zone: Zone): void {
    const e = this.entry(Command.Allocate);
    this.name(e, 4, file);
    this.view(e).setUint32(4 + FILE_NAME, align, true);
    e[4 + FILE_NAME + 4] = zone;
  }

  /** `dest`'s `size`-byte field at `offset` holds an offset into `src`: add src's address to it. */
  addPointer(dest: string, offset: number, size: 1 | 2 | 4 | 8, src: string): void {
    const e = this.entry(Command.AddPointer);
    this.name(e, 4, dest);
    this.name(e, 4 + FILE_NAME, src);
    this.view(e).setUint32(4 + 2 * FILE_NAME, offset, true);
    e[4 + 2 * FILE_NAME + 4] = size;
  }

  /** The byte at `offset` makes bytes [start, start + length) of `file` sum to zero. */
  addChecksum(file: string, offset: number, start: number, length: number): void {
    const e = this.entry(Command.AddChecksum);
    this.name(e, 4, file);
    const v = this.view(e);
    v.setUint32(4 + FILE_NAME, offset, true);
    v.setUint32(4 + FILE_NAME + 4, start, true);
    v.setUint32(4 + FILE_NAME + 8, length, true);
  }

  /** The script, zero-padded to `padTo` bytes. */
  bytes(padTo: number): Uint8Array {
    const out = new Uint8Array(Math.max(padTo, this.entries.length * ENTRY));
    this.entries.forEach((e, i) => out.set(e, i * ENTRY));
    return out;
  }

  private entry(command: Command): Uint8Array {
    const e = new Uint8Array(ENTRY);
    this.view(e).setUint32(0, command, true);
    this.entries.push(e);
    return e;
  }

  private view(e: Uint8Array): DataView {
    return new DataView(e.buffer, e.byteOffset, e.byteLength);
  }

  private name(e: Uint8Array, at: number, file: string): void {
    if (file.length >= FILE_NAME) throw new Error(`linker file name too long: ${file}`);
    for (let i = 0; i < file.length; i++) e[at + i] = file.charCodeAt(i);
  }
}
