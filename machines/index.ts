/** machbus's own machine types, and `builtinMachineTypes`: the registry a machine gets by default. */
import { MachineTypeRegistry } from "../src/machine/machine-type.js";
import { pcMachineTypes } from "./pc.js";
import { q35MachineTypes } from "./q35.js";

export { i440fxBoard } from "./pc.js";
export { q35Board } from "./q35.js";

export const builtinMachineTypes = new MachineTypeRegistry([...pcMachineTypes, ...q35MachineTypes]);
