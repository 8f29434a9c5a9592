import { own } from "../own.js";

/**
 * QEMU users paste command lines: rewrite QEMU's single-dash spellings into machbus's options
 * before the parser sees them (-M/-machine, -device, -drive, -global, -m, -kernel, -initrd,
 * -append, -vga, -netdev, -version), drop the ones that change nothing here, and turn lspci's
 * counted -x/-xxx/-xxxx into --hex=N.
 */
const QEMU_SPELLINGS: Record<string, string> = {
  "-machine": "--machine",
  "-device": "--device",
  "-drive": "--drive",
  "-global": "--global",
  "-kernel": "--kernel",
  "-initrd": "--initrd",
  "-append": "--append",
  "-vga": "--vga",
  "-netdev": "--netdev",
  "-version": "--version",
};
/** QEMU options that change nothing here: machbus machines never have QEMU's default devices. */
const NO_OP = new Set(["-nodefaults", "--nodefaults", "-no-user-config"]);

export function normalizeArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const qemu = own(QEMU_SPELLINGS, a);
    if (NO_OP.has(a)) continue;
    if (qemu !== undefined) out.push(qemu);
    else if (/^-x{1,4}$/.test(a)) out.push(`--hex=${a.length - 1}`);
    else out.push(a);
  }
  return out;
}
