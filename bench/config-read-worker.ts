import { Machine } from "../src/index.js";
import { benchConfigRead } from "./config-read.js";
import { catalogueMachine } from "./machines.js";

/** One config-read scenario in a process of its own (see benchConfigReadIsolated). */
const scenario = process.argv[2];
const machine = scenario === "pc" ? Machine.create() : scenario === "q35" ? Machine.create({ machine: "q35" }) : catalogueMachine();
const result = await benchConfigRead(machine);
if (process.send) process.send(result);
else console.log(JSON.stringify(result)); // run by hand: node --no-use-osr dist/bench/config-read-worker.js pc
