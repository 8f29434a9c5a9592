/**
 * `machbus/layout`: host-side BAR layout, as firmware assigns BARs and bridge windows (F15).
 * An entry of its own: the engine runs guests that program their own BARs and does not need it.
 */
export {
  planBarLayout,
  assignBarLayout,
  applyBarLayout,
  LayoutError,
  type BarLayout,
  type BarAssignment,
  type BridgeWindowAssignment,
  type LayoutFailure,
  type RegionType,
  type WindowName,
  type WindowUsage,
} from "./bar-layout.js";
export { formatBarLayout, formatWindows } from "./format-layout.js";
