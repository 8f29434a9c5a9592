import { injectable, type DependencyContainer } from "tsyringe";
import { MachbusError } from "../errors.js";
import type { SlotAllocator } from "./allocator.js";
import { parseOptionList } from "./device-spec.js";
import type { PropertySchema, PropsOf } from "./properties.js";
import { ALLOCATOR_PARAMS } from "./tokens.js";

/**
 * Slot-allocation policies by name (F13). A policy is a class decorated with
 * `@allocationPolicy({ name, description, params })`; the machine builds it from a spec string
 * `NAME[,KEY=VALUE]...` (`--allocator`, `allocator:` in machine files, MachineOptions.allocator) in
 * its own DI container, with the parsed parameters under ALLOCATOR_PARAMS and every machine
 * service (MACHINE, ROOT_BUS, ...) injectable. Anything random takes a `seed` parameter, so an
 * experiment that records the spec can run the same policy again.
 */
export interface PolicyOptions<S extends PropertySchema> {
  /** What `--allocator` takes. */
  name: string;
  /** One line for `--allocator help`. */
  description: string;
  /** The parameters it accepts (`hotplug-reserve,free=4`), with defaults and descriptions. */
  params: S;
}

export interface PolicyInfo {
  readonly name: string;
  readonly description: string;
  readonly params: PropertySchema;
}

/** A policy class: built by the machine's container, described by its PolicyInfo. */
export type PolicyClass = (new (...args: any[]) => SlotAllocator) & { readonly [POLICY_INFO]: PolicyInfo };

/** What a policy's constructor receives under ALLOCATOR_PARAMS: its parameters, resolved. */
export type PolicyParams<S extends PropertySchema> = PropsOf<S>;

export const POLICY_INFO = Symbol.for("machbus.policyInfo");

const catalogue = new Map<string, PolicyClass>();

/** The default policy: QEMU's first fit. */
export const DEFAULT_POLICY = "qemu";

/** Class decorator: makes a policy injectable and registers it under its name, process-wide. */
export function allocationPolicy<S extends PropertySchema>(options: PolicyOptions<S>) {
  return (target: new (...args: any[]) => SlotAllocator): void => {
    injectable()(target);
    const info: PolicyInfo = { name: options.name, description: options.description, params: options.params };
    Object.defineProperty(target, POLICY_INFO, { value: info });
    registerPolicy(target as PolicyClass);
  };
}

export function registerPolicy(cls: PolicyClass): void {
  const name = cls[POLICY_INFO].name;
  const existing = catalogue.get(name);
  if (existing && existing !== cls) {
    throw new MachbusError("unknown-allocator", `allocation policy '${name}' is already registered by another class`);
  }
  catalogue.set(name, cls);
}

/** Every registered policy, by name. */
export function registeredPolicies(): ReadonlyMap<string, PolicyClass> {
  return catalogue;
}

/** A parsed `NAME[,KEY=VALUE]...`. */
export interface PolicySpec {
  readonly name: string;
  readonly params: readonly (readonly [string, string])[];
}

export function parsePolicySpec(text: string): PolicySpec {
  const { head, pairs } = parseOptionList(text.trim(), "allocator");
  if (!head) throw new MachbusError("spec-syntax", `allocator '${text}': expected NAME[,KEY=VALUE]... (try --allocator help)`);
  return { name: head, params: pairs };
}

/** The canonical spec: name, then every parameter that differs from its default, in schema order. */
export function formatPolicySpec(name: string, params: Readonly<Record<string, unknown>>, schema: PropertySchema): string {
  const parts = [name];
  for (const [key, def] of Object.entries(schema)) {
    if (params[key] !== def.default) parts.push(`${key}=${def.type.format(params[key])}`);
  }
  return parts.join(",");
}

/** A policy instance and the canonical spec that recreates it. */
export interface ResolvedPolicy {
  readonly allocator: SlotAllocator;
  readonly spec: string;
}

/**
 * Builds the policy a spec names in `container` (the machine's); `extra` are policy classes only
 * this machine knows. Unknown names list the known ones; parameter errors name the parameter.
 */
export function createPolicy(
  text: string,
  container: DependencyContainer,
  extra: readonly (new (...args: any[]) => SlotAllocator)[] = [],
): ResolvedPolicy {
  const spec = parsePolicySpec(text);
  const known = new Map(catalogue);
  for (const cls of extra) {
    const info = (cls as Partial<PolicyClass>)[POLICY_INFO];
    if (!info) {
      throw new MachbusError("unknown-allocator", `class ${cls.name} is not an allocation policy (decorate it with @allocationPolicy)`);
    }
    known.set(info.name, cls as PolicyClass);
  }
  const cls = known.get(spec.name);
  if (!cls) {
    throw new MachbusError(
      "unknown-allocator",
      `unknown allocation policy '${spec.name}' (policies: ${[...known.keys()].sort().join(", ")}; --allocator help describes them)`,
    );
  }
  const info = cls[POLICY_INFO];
  const params = resolvePolicyParams(info, spec.params);
  const child = container.createChildContainer();
  child.registerInstance(ALLOCATOR_PARAMS, params);
  return { allocator: child.resolve(cls), spec: formatPolicySpec(info.name, params, info.params) };
}

function resolvePolicyParams(info: PolicyInfo, pairs: readonly (readonly [string, string])[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(info.params)) values[key] = def.default;
  for (const [key, text] of pairs) {
    const def = info.params[key];
    if (!def) {
      const valid = Object.keys(info.params);
      throw new MachbusError(
        "bad-property-value",
        `allocation policy '${info.name}': unknown parameter '${key}' (${valid.length ? `valid: ${valid.join(", ")}` : "it takes none"})`,
      );
    }
    const r = def.type.parse(text);
    if ("error" in r) {
      throw new MachbusError(
        "bad-property-value",
        `allocation policy '${info.name}': parameter '${key}' expects ${r.error} (got '${text}')`,
      );
    }
    values[key] = r.value;
  }
  return values;
}

/** `--allocator help`: every policy with its description and parameters. */
export function formatPolicyHelp(): string {
  let out = "Allocation policies (--allocator NAME[,KEY=VALUE]...):\n";
  for (const name of [...catalogue.keys()].sort()) {
    const info = catalogue.get(name)![POLICY_INFO];
    out += `  ${name.padEnd(16)} ${info.description}${name === DEFAULT_POLICY ? " (default)" : ""}\n`;
    for (const [key, def] of Object.entries(info.params)) {
      out += `    ${`${key}=<${def.type.name}>`.padEnd(22)} ${def.description} (default: ${def.type.format(def.default)})\n`;
    }
  }
  return out;
}
