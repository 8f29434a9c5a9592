/**
 * QEMU users paste command lines: rewrite QEMU's single-dash spellings into machbus's options
 * before the parser sees them (-M/-machine, -device, -drive, -global, -m, -kernel, -initrd,
 * -append), and lspci's counted -x/-xxx/-xxxx into --hex=N.
 */
const QEMU_SPELLINGS: Record<string, string> = {
  "-machine": "--machine",
  "-device": "--device",
  "-drive": "--drive",
  "-global": "--global",
  "-kernel": "--kernel",
  "-initrd": "--initrd",
  "-append": "--append",
};

export function normalizeArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a in QEMU_SPELLINGS) out.push(QEMU_SPELLINGS[a]!);
    else if (/^-x{1,4}$/.test(a)) out.push(`--hex=${a.length - 1}`);
    else out.push(a);
  }
  return out;
}
