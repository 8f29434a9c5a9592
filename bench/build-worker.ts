import { benchBuild } from "./build.js";

/** benchBuild in a process of its own (see benchBuildIsolated). */
const result = await benchBuild(Number(process.argv[2] ?? 10_000));
if (process.send) process.send(result);
else console.log(JSON.stringify(result)); // run by hand: node --expose-gc dist/bench/build-worker.js 10000
