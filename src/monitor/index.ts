/**
 * `machbus/monitor`: QEMU's HMP monitor over a machine (`new Monitor(machine).execute(line)`), and
 * the texts it prints (`info pci`, `info qtree`, `-device help`). Browser-safe.
 */
export { Monitor, type MonitorResult, type SnapshotStore } from "./monitor.js";
export { formatInfoPci } from "./info-pci.js";
export { formatQtree } from "./info-qtree.js";
export { deviceHelp, formatDeviceList, formatDeviceProperties } from "./device-help.js";
