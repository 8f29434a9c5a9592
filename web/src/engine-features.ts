import { builtinPolicies, POLICY_INFO, type Machine, type MachineOptions } from "machbus";

/** One slot-allocation policy the page offers, as the policy catalogue describes it. */
export interface PolicyChoice {
  readonly name: string;
  readonly description: string;
  /** Parameter names the policy takes (NAME,KEY=VALUE...). */
  readonly params: readonly string[];
}

/** The policies the engine offers, the default (qemu) first. */
export function policyChoices(): PolicyChoice[] {
  const choices = [...builtinPolicies].map((cls) => {
    const info = cls[POLICY_INFO];
    return { name: info.name, description: info.description, params: Object.keys(info.params) };
  });
  return choices.sort((a, b) => (a.name === "qemu" ? -1 : b.name === "qemu" ? 1 : a.name.localeCompare(b.name)));
}

/** MachineOptions.allocator for a policy spec such as "hotplug-reserve,free=4". */
export function allocatorOption(spec: string): MachineOptions["allocator"] {
  return spec;
}

/** The policy spec a machine places devices with. */
export function machinePolicy(machine: Machine): string {
  return machine.allocatorSpec;
}
