#!/usr/bin/env bash
# Fetches the Debian packages the boot test repackages as signed APKs: the
# kernel (linux-image-*-amd64 with its modules), busybox-static and
# systemd-boot-efi (the UKI stub). They land, as .deb files, in the cache
# directory: $HARDVM_BOOT_CACHE, else ~/.cache/hardvm/boot-packages. Idempotent:
# a package already in the cache is not fetched again.
#
# The kernel package is the one linux-image-amd64 depends on (the Debian
# "current" kernel); set HARDVM_BOOT_KERNEL to pin another
# (e.g. linux-image-6.1.0-56-amd64).
set -euo pipefail

cache="${HARDVM_BOOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hardvm/boot-packages}"
mkdir -p "$cache"
cd "$cache"

kernel="${HARDVM_BOOT_KERNEL:-}"
if [ -z "$kernel" ]; then
  kernel=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
if [ -z "$kernel" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; fi
  kernel=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kernel" ] || { echo "fetch-boot-packages: no linux-image-*-amd64 known to apt" >&2; exit 1; }

for pkg in "$kernel" busybox-static systemd-boot-efi; do
  if ls "${pkg}"_*.deb >/dev/null 2>&1; then
    continue
  fi
  echo "fetch-boot-packages: apt-get download $pkg"
  # apt-get download writes into the current directory; run it as the
  # unprivileged _apt sandbox user's peer only when that user can write here.
  apt-get download -q "$pkg" 2>&1 | grep -v 'couldn.t be accessed by user' >&2 || true
  ls "${pkg}"_*.deb >/dev/null 2>&1 || { echo "fetch-boot-packages: download of $pkg failed" >&2; exit 1; }
done
echo "$cache"
