#!/usr/bin/env bash
# Installs the Debian packages the tests use as real clients: pciutils (lspci -F reads our
# dumps), seabios (firmware run on v86 over our bus), qemu-system-data (QEMU's linuxboot.bin
# option ROM, for machbus boot --kernel), chromium (the web app's browser test drives it with
# playwright-core; no browser download) and redis-server (the experiment queue's BullMQ runs on
# it). Skips apt when they are already there. Then builds the Linux conformance guest into its
# cache (test/setup/linux-guest.mjs; nothing to do when cached).
set -euo pipefail
need=()
command -v lspci >/dev/null 2>&1 || need+=(pciutils)
[ -f /usr/share/seabios/bios.bin ] || need+=(seabios)
[ -f /usr/share/qemu/linuxboot.bin ] || need+=(qemu-system-data)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -ne 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "machbus tests need: ${need[*]} (install them with your package manager)" >&2
    exit 1
  fi
  echo "installing ${need[*]} for the tests..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
node "$(dirname "$0")/linux-guest.mjs" >/dev/null
