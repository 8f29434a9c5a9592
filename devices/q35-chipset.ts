/** The q35 board's onboard functions (machines/q35.ts builds them). */
export { Mch } from "./mch.js";
export { Ich9Lpc } from "./ich9-lpc.js";
export { Ich9Ahci } from "./ich9-ahci.js";
export { Ich9Smbus } from "./ich9-smbus.js";
