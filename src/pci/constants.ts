/** Register offsets and bits of the PCI configuration header (PCI Local Bus 3.0, PCI-to-PCI Bridge 1.2). */

export const PCI_CONFIG_SPACE_SIZE = 0x100;
export const PCIE_CONFIG_SPACE_SIZE = 0x1000;
export const PCI_CONFIG_HEADER_SIZE = 0x40;

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BIST = 0x0f;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_MIN_GNT = 0x3e;
export const PCI_MAX_LAT = 0x3f;

// Type 1 (bridge) header
export const PCI_PRIMARY_BUS = 0x18;
export const PCI_SECONDARY_BUS = 0x19;
export const PCI_SUBORDINATE_BUS = 0x1a;
export const PCI_SEC_LATENCY_TIMER = 0x1b;
export const PCI_IO_BASE = 0x1c;
export const PCI_IO_LIMIT = 0x1d;
export const PCI_SEC_STATUS = 0x1e;
export const PCI_MEMORY_BASE = 0x20;
export const PCI_MEMORY_LIMIT = 0x22;
export const PCI_PREF_MEMORY_BASE = 0x24;
export const PCI_PREF_MEMORY_LIMIT = 0x26;
export const PCI_PREF_BASE_UPPER32 = 0x28;
export const PCI_PREF_LIMIT_UPPER32 = 0x2c;
export const PCI_IO_BASE_UPPER16 = 0x30;
export const PCI_IO_LIMIT_UPPER16 = 0x32;
export const PCI_ROM_ADDRESS1 = 0x38;
export const PCI_BRIDGE_CONTROL = 0x3e;

export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_SERR = 0x100;
export const PCI_COMMAND_INTX_DISABLE = 0x400;

export const PCI_STATUS_INTERRUPT = 0x08;
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_STATUS_66MHZ = 0x20;
export const PCI_STATUS_FAST_BACK = 0x80;
export const PCI_STATUS_PARITY = 0x100;
export const PCI_STATUS_DEVSEL_MEDIUM = 0x200;
export const PCI_STATUS_SIG_TARGET_ABORT = 0x800;
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
export const PCI_STATUS_DETECTED_PARITY = 0x8000;

export const PCI_HEADER_TYPE_NORMAL = 0;
export const PCI_HEADER_TYPE_BRIDGE = 1;
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

export const PCI_BASE_ADDRESS_SPACE_IO = 0x01;
export const PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04;
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08;
export const PCI_ROM_ADDRESS_ENABLE = 0x01;

export const PCI_BRIDGE_CTL_BUS_RESET = 0x40;

export const PCI_CAP_LIST_ID = 0;
export const PCI_CAP_LIST_NEXT = 1;

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_SLOTID = 0x04;
export const PCI_CAP_ID_SHPC = 0x0c;
/** Bridge subsystem vendor ID (PCI-to-PCI bridge spec 3.2.6). */
export const PCI_CAP_ID_SSVID = 0x0d;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;

// Power management capability (PCI PM 1.2): capabilities, control/status.
export const PCI_PM_SIZEOF = 8;
export const PCI_PM_PMC = 2;
export const PCI_PM_CTRL = 4;
export const PCI_PM_CTRL_STATE_MASK = 0x0003;

/** Number of BAR slots: six plus the expansion ROM. */
export const PCI_NUM_REGIONS = 7;
export const PCI_ROM_SLOT = 6;
export const PCI_NUM_PINS = 4;

export const PCI_SLOT_MAX = 32;
export const PCI_FUNC_MAX = 8;

export const pciSlot = (devfn: number): number => (devfn >> 3) & 0x1f;
export const pciFunc = (devfn: number): number => devfn & 7;
export const pciDevfn = (slot: number, fn: number): number => ((slot & 0x1f) << 3) | (fn & 7);

/** QEMU's default subsystem ids (Red Hat / QEMU) for devices that do not set their own. */
export const PCI_SUBVENDOR_ID_REDHAT_QUMRANET = 0x1af4;
export const PCI_SUBDEVICE_ID_QEMU = 0x1100;

export const PCI_IO_RANGE_TYPE_MASK = 0x0f;
export const PCI_IO_RANGE_TYPE_16 = 0x00;
export const PCI_IO_RANGE_TYPE_32 = 0x01;
export const PCI_IO_RANGE_MASK = ~0x0f;
export const PCI_MEMORY_RANGE_MASK = ~0x0f;
export const PCI_PREF_RANGE_TYPE_MASK = 0x0f;
export const PCI_PREF_RANGE_TYPE_64 = 0x01;
export const PCI_PREF_RANGE_MASK = ~0x0f;

export const PCI_BRIDGE_CTL_PARITY = 0x01;
export const PCI_BRIDGE_CTL_SERR = 0x02;
export const PCI_BRIDGE_CTL_ISA = 0x04;
export const PCI_BRIDGE_CTL_VGA = 0x08;
export const PCI_BRIDGE_CTL_VGA_16BIT = 0x10;
export const PCI_BRIDGE_CTL_MASTER_ABORT = 0x20;
export const PCI_BRIDGE_CTL_FAST_BACK = 0x80;
export const PCI_BRIDGE_CTL_DISCARD = 0x100;
export const PCI_BRIDGE_CTL_SEC_DISCARD = 0x200;
export const PCI_BRIDGE_CTL_DISCARD_STATUS = 0x400;
export const PCI_BRIDGE_CTL_DISCARD_SERR = 0x800;

// MSI capability (PCI Local Bus 3.0, 6.8.1)
export const PCI_MSI_FLAGS = 2;
export const PCI_MSI_FLAGS_ENABLE = 0x0001;
export const PCI_MSI_FLAGS_QMASK = 0x000e;
export const PCI_MSI_FLAGS_QSIZE = 0x0070;
export const PCI_MSI_FLAGS_64BIT = 0x0080;
export const PCI_MSI_FLAGS_MASKBIT = 0x0100;
export const PCI_MSI_ADDRESS_LO = 4;
export const PCI_MSI_VECTORS_MAX = 32;

// Slot identification capability (PCI-to-PCI Bridge 1.2, 13.1)
export const PCI_SID_ESR = 2;
export const PCI_SID_ESR_FIC = 0x20;
export const PCI_SID_CHASSIS_NR = 3;
