/** Number formats the page shows: QEMU's and lspci's (hex, zero-padded), and sizes as people read them. */
export function hex(value: number | bigint, digits = 0): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}

export function hex2(value: number): string {
  return value.toString(16).padStart(2, "0");
}

export function formatSize(bytes: number | bigint): string {
  const n = Number(bytes);
  for (const [unit, size] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const) {
    if (n >= size) return n % size === 0 ? `${n / size} ${unit}` : `${(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} B`;
}

export function bits(value: number): string {
  return value.toString(2).padStart(8, "0");
}
