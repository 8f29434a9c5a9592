#!/bin/busybox sh
# /init of the Linux conformance guest (test/setup/linux-guest.mjs packs it): prints what the
# guest sees of PCI between marker lines on the serial console, then powers off. The same
# initramfs runs on QEMU 7.2 (test/fixtures/linux/regenerate.mjs) and on machbus (test/linux.test.ts).
/bin/busybox mkdir -p /proc /sys /dev /usr/sbin /sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel messages stay in the log buffer (dumped below) instead of interleaving with the dump.
dmesg -n 1

section() { echo "=== machbus-guest: $1 ==="; }

dump() {
  section "proc-bus-pci-devices"
  cat /proc/bus/pci/devices
  for d in /sys/bus/pci/devices/*; do
    section "sysfs $(basename "$d")"
    echo "--- config"
    hexdump -v -e '16/1 "%02x " "\n"' "$d/config"
    echo "--- resource"
    cat "$d/resource"
    echo "--- irq"
    cat "$d/irq"
  done
  section "lspci"
  lspci -vvv -xxx -nn
  section "ioports"
  cat /proc/ioports
  section "iomem"
  cat /proc/iomem
  section "dmesg"
  dmesg
}

section "begin"
dump
section "end"

# machbus.hotplug in the command line: wait (up to 120 s) for a new PCI function, then dump again.
if grep -q machbus.hotplug /proc/cmdline; then
  before=$(ls /sys/bus/pci/devices | wc -l)
  section "waiting-for-hotplug"
  n=0
  while [ "$(ls /sys/bus/pci/devices | wc -l)" = "$before" ] && [ $n -lt 240 ]; do
    sleep 0.5
    n=$((n + 1))
  done
  sleep 1
  section "after-hotplug"
  dump
  section "end-after-hotplug"
fi
poweroff -f
