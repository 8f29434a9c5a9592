/** Machine types: importing this module registers every built-in type. */
export { i440fxBoard } from "./pc.js";
export { q35Board } from "./q35.js";
