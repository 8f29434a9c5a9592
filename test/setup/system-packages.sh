#!/usr/bin/env bash
# Installs the Debian packages the tests use as real clients: pciutils (lspci -F reads our
# dumps), seabios (firmware run on v86 over our bus) and chromium (the web app's browser test
# drives it with playwright-core; no browser download). Skips apt when they are already there.
set -euo pipefail
need=()
command -v lspci >/dev/null 2>&1 || need+=(pciutils)
[ -f /usr/share/seabios/bios.bin ] || need+=(seabios)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "machbus tests need: ${need[*]} (install them with your package manager)" >&2
  exit 1
fi
echo "installing ${need[*]} for the tests..." >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
