/** The pc board's onboard functions (machines/pc.ts builds them). */
export { I440fx } from "./i440fx.js";
export { Piix3 } from "./piix3.js";
export { Piix3Ide } from "./piix3-ide.js";
export { Piix4Pm } from "./piix4-pm.js";
