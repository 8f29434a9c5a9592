import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { AddressSpace, Region } from "../src/memory/address-space.js";
import type { Clock } from "../src/machine/tokens.js";
import { describeState, f64, u16, type Field } from "../src/state/description.js";

const PM_TIMER_HZ = 3_579_545;
const PM_TIMER_MASK = 0xffffff; // a 24-bit counter
const PM1_TMR_STS = 1 << 0; // the timer's bit 23 changed since the guest last cleared this
/** PM1 enable bits that raise the SCI with their status bit (QEMU's ACPI_BITMASK_PM1_COMMON_ENABLED). */
const PM1_SCI_ENABLES = (1 << 0) | (1 << 5) | (1 << 8) | (1 << 10); // timer, global lock, power button, RTC
const PM1_CNT_SCI_EN = 1 << 0;
const PM1_CNT_SLP_EN = 1 << 13; // write-only: the sleep request itself
const PM1_CNT_SLP_TYP_SHIFT = 10;
/** SLP_TYP of soft off: the \_S5 package QEMU's DSDT gives (src/acpi/pc-dsdt.ts). */
const SLP_TYP_SOFT_OFF = 0;

/**
 * The PM1 event and control registers, and when the timer next sets TMR_STS: a snapshot's "pm1"
 * state on ICH9, and the start of PIIX4's (devices/piix4-pm.ts), which keeps more.
 */
export const PM1_FIELDS: Field<AcpiPm1>[] = [u16("status"), u16("enable"), u16("control"), f64("overflowTick")];

export const PM1_STATE = describeState<AcpiPm1>({ name: "pm1", version: 1, fields: PM1_FIELDS });

/**
 * QEMU's ACPI fixed registers (hw/acpi/core.c) as the PIIX4 PM and ICH9 LPC blocks map them:
 * PM1 status/enable at +0, PM1 control at +4, the PM timer at +8, a 24-bit counter at
 * 3.579545 MHz of the machine's clock. The owner maps `regions` into its PM block, and is told
 * (`sciChanged`) when the SCI the PM1 registers drive may have changed. A guest powering off
 * (SLP_EN with the soft-off sleep type, or with `s4Val`, which QEMU also ends the machine on) is
 * a "shutdown-request" event; S3 (suspend) is not modelled and does nothing.
 */
export class AcpiPm1 {
  status = 0;
  enable = 0;
  control = 0;
  /** Timer tick at which TMR_STS is next set (QEMU's overflow_time; 0 after reset: set at once). */
  overflowTick = 0;
  readonly regions: readonly { region: Region; offset: number }[];

  constructor(
    private readonly clock: Clock,
    owner: string,
    private readonly sciChanged: () => void,
    events: EventEmitter<MachineEvents>,
    s4Val: number,
  ) {
    // QEMU's acpi-evt and acpi-cnt take 1- and 2-byte accesses, handled as 2; acpi-tmr only 4.
    const pm1 = { implMin: 2, maxAccess: 2, owner } as const;
    const evt = new Region(
      "acpi-evt",
      4,
      {
        read: (offset) => (offset === 0 ? this.readStatus() : offset === 2 ? this.enable : 0),
        write: (offset, _size, value) => {
          if (offset === 0) {
            // Writing 1 clears a status bit; clearing TMR_STS arms the next bit-23 change.
            if (this.readStatus() & value & PM1_TMR_STS) this.overflowTick = nextBit23Change(this.ticks());
            this.status &= ~value;
          } else if (offset === 2) this.enable = value;
          this.sciChanged();
        },
      },
      pm1,
    );
    // QEMU 7.2's PM1 control ignores the offset: a byte access at +5 reads and writes the low byte.
    const cnt = new Region(
      "acpi-cnt",
      2,
      {
        read: () => this.control,
        write: (_offset, _size, value) => {
          this.control = value & ~PM1_CNT_SLP_EN & 0xffff;
          // QEMU's acpi_pm1_cnt_write: a sleep request ends the machine for soft off and S4
          if (!(value & PM1_CNT_SLP_EN)) return;
          const sleepType = (value >> PM1_CNT_SLP_TYP_SHIFT) & 7;
          if (sleepType === SLP_TYP_SOFT_OFF || sleepType === s4Val) events.emit("shutdown-request", { source: owner, sleepType });
        },
      },
      pm1,
    );
    const tmr = new Region(
      "acpi-tmr",
      4,
      {
        read: (_offset, size) => (size === 4 ? this.ticks() & PM_TIMER_MASK : 0),
        write: () => {},
      },
      { owner },
    );
    this.regions = [
      { region: evt, offset: 0 },
      { region: cnt, offset: 4 },
      { region: tmr, offset: 8 },
    ];
  }

  mapInto(space: AddressSpace): void {
    for (const { region, offset } of this.regions) space.map(region, offset);
  }

  /** Whether an enabled PM1 event is pending (QEMU's acpi_update_sci, PM1 part). */
  get sciLevel(): boolean {
    return (this.readStatus() & this.enable & PM1_SCI_ENABLES) !== 0;
  }

  /** SCI_EN in PM1 control, as an APM "ACPI enable/disable" command sets it (QEMU's acpi_pm1_cnt_update). */
  setSciEnable(on: boolean): void {
    this.control = on ? this.control | PM1_CNT_SCI_EN : this.control & ~PM1_CNT_SCI_EN;
  }

  reset(): void {
    this.status = 0;
    this.enable = 0;
    this.control = 0;
    this.overflowTick = 0;
  }

  /** The PM timer's count now (all 24 bits; the register shows the low 24). */
  private ticks(): number {
    return Math.floor(this.clock.nowNs() * (PM_TIMER_HZ / 1e9));
  }

  private readStatus(): number {
    if (this.ticks() >= this.overflowTick) this.status |= PM1_TMR_STS;
    return this.status;
  }
}

/** The APM control (0xb2) and status (0xb3) bytes: QEMU's hw/isa/apm.c state. */
export interface ApmRegisters {
  apmControl: number;
  apmStatus: number;
}

export const APM_CNT_IOPORT = 0xb2;

/**
 * QEMU's APM ports (hw/isa/apm.c) at 0xb2-0xb3: a byte the firmware or OS writes to 0xb2 is a
 * command the chipset acts on (`command`: the ACPI enable/disable commands set SCI_EN; the SMI
 * it would also raise is not modelled); 0xb3 is a scratch byte.
 */
export function apmRegion(owner: string, regs: ApmRegisters, command: (value: number) => void): Region {
  return new Region(
    "apm-io",
    2,
    {
      read: (offset) => (offset === 0 ? regs.apmControl : regs.apmStatus),
      write: (offset, _size, value) => {
        if (offset === 1) {
          regs.apmStatus = value & 0xff;
          return;
        }
        regs.apmControl = value & 0xff;
        command(regs.apmControl);
      },
    },
    { maxAccess: 1, owner },
  );
}

/**
 * A power-management register block the guest moves through config space (PIIX4's and ICH9's
 * PMBASE): its own address space, shown as a window in the I/O space where the guest put it,
 * with `region-mapped` / `region-unmapped` events for embedders that route ports themselves.
 */
export class PmIoBlock {
  readonly space: AddressSpace;
  /** Where it decodes now, or null. */
  base: number | null = null;

  constructor(
    readonly name: string,
    readonly size: number,
    private readonly io: AddressSpace,
    private readonly events: EventEmitter<MachineEvents>,
    private readonly owner: () => string,
  ) {
    this.space = new AddressSpace(name, size);
  }

  moveTo(base: number | null): void {
    const old = this.base;
    if (base === old) return;
    const owner = this.owner();
    if (old !== null) this.io.unmapWindow(this.space, old);
    if (base !== null) this.io.mapWindow(this.space, base, this.size, { targetBase: 0, priority: 0, owner });
    this.base = base;
    this.events.emit(base === null ? "region-unmapped" : "region-mapped", {
      device: owner,
      region: this.name,
      space: "io",
      size: this.size,
      oldAddress: old,
      newAddress: base,
    });
  }
}

/** The first tick after `tick` at which bit 23 of the count changes (the count is beyond 32 bits). */
function nextBit23Change(tick: number): number {
  return (Math.floor(tick / 0x800000) + 1) * 0x800000;
}
