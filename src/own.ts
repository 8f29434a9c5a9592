/**
 * `record[key]` when `key` is the record's own property. Every table looked up by a name a user
 * typed (a property, an option, a command) goes through this, so that `toString`, `constructor`
 * or `__proto__` find nothing instead of what Object.prototype holds.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
