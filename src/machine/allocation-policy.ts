import { injectable, type DependencyContainer } from "tsyringe";
import { MachbusError } from "../errors.js";
import { own } from "../own.js";
import { DEFAULT_POLICY, type SlotAllocator } from "./allocator.js";
import { parseOptionList } from "./device-spec.js";
import type { PropertySchema, PropsOf } from "./properties.js";
import { ALLOCATOR_PARAMS } from "./tokens.js";

/**
 * Slot-allocation policies by name (F13). A policy is a class decorated with
 * `@allocationPolicy({ name, description, params })`; the machine builds it from a spec string
 * `NAME[,KEY=VALUE]...` (`--allocator`, `allocator:` in machine files, MachineOptions.allocator),
 * looked up in its PolicyCatalogue, in its own DI container, with the parsed parameters under
 * ALLOCATOR_PARAMS and every machine service (MACHINE, EVENTS, ...) injectable. Anything random
 * takes a `seed` parameter, so an experiment that records the spec can run the same policy again.
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

/** A policy class as written; a catalogue checks that the decorator gave it a PolicyInfo. */
export type PolicyClassLike = new (...args: any[]) => SlotAllocator;

/** A policy class: built by the machine's container, described by its PolicyInfo. */
export type PolicyClass = PolicyClassLike & { readonly [POLICY_INFO]: PolicyInfo };

/** What a policy's constructor receives under ALLOCATOR_PARAMS: its parameters, resolved. */
export type PolicyParams<S extends PropertySchema> = PropsOf<S>;

export const POLICY_INFO = Symbol.for("machbus.policyInfo");
export { DEFAULT_POLICY };

/** Class decorator: makes a policy injectable and describes it. It registers nothing: a machine knows the policies of its catalogue. */
export function allocationPolicy<S extends PropertySchema>(options: PolicyOptions<S>) {
  return (target: PolicyClassLike): void => {
    injectable()(target);
    const info: PolicyInfo = { name: options.name, description: options.description, params: options.params };
    Object.defineProperty(target, POLICY_INFO, { value: info });
  };
}

/**
 * The policies a machine can build, by name: an immutable value, as DriverCatalogue is for
 * devices. `builtinPolicies` (src/machine/policies) holds machbus's own; `with` adds a user's.
 */
export class PolicyCatalogue implements Iterable<PolicyClass> {
  private readonly byName = new Map<string, PolicyClass>();

  /** Throws if a class is not a policy, or two classes claim one name. */
  constructor(policies: Iterable<PolicyClassLike> = []) {
    for (const c of policies) {
      if (!Object.hasOwn(c, POLICY_INFO)) {
        throw new MachbusError("unknown-allocator", `class ${c.name} is not an allocation policy (decorate it with @allocationPolicy)`);
      }
      const cls = c as PolicyClass;
      const name = cls[POLICY_INFO].name;
      const existing = this.byName.get(name);
      if (existing && existing !== cls) {
        throw new MachbusError(
          "unknown-allocator",
          `allocation policy '${name}' is defined twice: by class ${existing.name} and by class ${cls.name}`,
        );
      }
      this.byName.set(name, cls);
    }
  }

  /** A new catalogue: this one's policies and `policies`. */
  with(...policies: PolicyClassLike[]): PolicyCatalogue {
    return new PolicyCatalogue([...this.byName.values(), ...policies]);
  }

  /** The policy called `name`; an unknown name is answered with the known ones. */
  find(name: string): PolicyClass {
    const cls = this.byName.get(name);
    if (!cls) {
      throw new MachbusError(
        "unknown-allocator",
        `unknown allocation policy '${name}' (policies: ${this.names().join(", ")}; --allocator help describes them)`,
      );
    }
    return cls;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  [Symbol.iterator](): Iterator<PolicyClass> {
    return this.byName.values();
  }
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
 * Builds the policy a spec names, from `catalogue`, in `container` (the machine's). Unknown
 * names list the known ones; parameter errors name the parameter.
 */
export function createPolicy(text: string, container: DependencyContainer, catalogue: PolicyCatalogue): ResolvedPolicy {
  const spec = parsePolicySpec(text);
  const cls = catalogue.find(spec.name);
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
    const def = own(info.params, key);
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

/** `--allocator help`: every policy of `catalogue` with its description and parameters. */
export function formatPolicyHelp(catalogue: PolicyCatalogue): string {
  let out = "Allocation policies (--allocator NAME[,KEY=VALUE]...):\n";
  for (const name of catalogue.names()) {
    const info = catalogue.find(name)[POLICY_INFO];
    out += `  ${name.padEnd(16)} ${info.description}${name === DEFAULT_POLICY ? " (default)" : ""}\n`;
    for (const [key, def] of Object.entries(info.params)) {
      out += `    ${`${key}=<${def.type.name}>`.padEnd(22)} ${def.description} (default: ${def.type.format(def.default)})\n`;
    }
  }
  return out;
}
