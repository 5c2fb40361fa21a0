#!/usr/bin/env bash
# Fetches the Debian packages the boot tests repackage as signed APKs, into
# the cache directory: $HARDVM_BOOT_CACHE, else ~/.cache/hardvm/boot-packages.
# Idempotent: a package already in the cache is not fetched again, so the
# tests run offline after the first run.
#
#   - the kernel (linux-image-*-amd64 with its modules), busybox-static and
#     systemd-boot-efi (the UKI stub), as .deb files in the cache directory;
#   - in runtime/: the dependency closure (Depends and Pre-Depends, no
#     Recommends) of what the images that run carry: systemd, udev, dbus,
#     openssh-server, nginx-light, squid, kmod, util-linux, login, e2fsprogs,
#     containerd, runc, docker.io, sudo,
#     plus ca-certificates and base-files (data only). runtime/closure.txt lists
#     every package of the closure with its version, runtime/excluded.txt the
#     ones not fetched: tools only maintainer scripts use (debconf, perl, dpkg,
#     adduser, ucf, …), which hardvm never runs.
#
# The closure is what apt's own resolver installs on an empty system
# (apt-get -s with an empty status file), so it follows the configured
# Debian release.
#
# The kernel package is the one linux-image-amd64 depends on (the Debian
# "current" kernel); set HARDVM_BOOT_KERNEL to pin another
# (e.g. linux-image-6.1.0-56-amd64).
#
# HARDVM_BOOT_ARCH=arm64 fetches the same set for Debian's arm64 (into the
# arm64/ subdirectory of the cache), for the aarch64 images: apt must know
# the architecture (dpkg --add-architecture arm64; apt-get update), which
# the script does when run as root.
set -euo pipefail

arch="${HARDVM_BOOT_ARCH:-amd64}"
cache="${HARDVM_BOOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hardvm/boot-packages}"
aptarch=()
if [ "$arch" != amd64 ]; then
  cache="$cache/$arch"
  # apt resolves and downloads as if the machine were $arch.
  aptarch=(-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch")
  if ! dpkg --print-foreign-architectures | grep -qx "$arch" && [ "$(id -u)" = 0 ]; then
    dpkg --add-architecture "$arch"
    apt-get update -qq
  fi
fi
mkdir -p "$cache"
cd "$cache"

kernel="${HARDVM_BOOT_KERNEL:-}"
if [ -z "$kernel" ]; then
  kernel=$(apt-cache "${aptarch[@]}" depends "linux-image-$arch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
if [ -z "$kernel" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; fi
  kernel=$(apt-cache "${aptarch[@]}" depends "linux-image-$arch" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kernel" ] || { echo "fetch-boot-packages: no linux-image-*-$arch known to apt" >&2; exit 1; }

# download DIR PKG...: apt-get download the packages of which DIR has no .deb.
download() {
  local dir=$1; shift
  local want=()
  for pkg in "$@"; do
    ls "$dir/${pkg}"_*.deb >/dev/null 2>&1 || want+=("$pkg")
  done
  ((${#want[@]})) || return 0
  echo "fetch-boot-packages: apt-get download ${want[*]}" >&2
  # apt-get download writes into the current directory; the _apt sandbox
  # user may not be able to, which apt only warns about.
  (cd "$dir" && apt-get "${aptarch[@]}" download -q "${want[@]}" 2>&1 | grep -v 'couldn.t be accessed by user' >&2 || true)
  for pkg in "${want[@]}"; do
    ls "$dir/${pkg}"_*.deb >/dev/null 2>&1 || { echo "fetch-boot-packages: download of $pkg failed" >&2; exit 1; }
  done
}

download "$cache" "$kernel" busybox-static systemd-boot-efi

# The packages of the images that run, with their dependency closure.
# The container hosts' (issue 23): containerd, runc, Docker (docker.io, with
# iptables and tini); sudo, with which the boot tests' login user runs ctr.
runtime_roots=(systemd udev dbus openssh-server nginx-light squid kmod util-linux login e2fsprogs
  containerd runc docker.io sudo)
# Needed only by maintainer scripts (never run by hardvm) or by optional
# helper scripts (squid's perl helpers): not part of the test repository.
excluded=(adduser anacron cron cron-daemon-common debconf dpkg init-system-helpers
  libdbi-perl libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl
  libperl5.36 perl perl-base perl-modules-5.36 libgdbm6 libgdbm-compat4
  lsb-base passwd libsemanage2 libsemanage-common runit-helper sensible-utils
  sgml-base ucf usrmerge usr-is-merged install-info)
# Data only: repackaged as Wolfi-style packages, not installed as they are.
runtime_data=(ca-certificates base-files)

rt="$cache/runtime"
mkdir -p "$rt"
resolve_closure() {
  apt-get "${aptarch[@]}" -s -o Dir::State::status=/dev/null -o APT::Install-Recommends=false \
    install "${runtime_roots[@]}" 2>/dev/null | awk '/^Inst /{v=$3; gsub(/[()\[\]]/,"",v); print $2" "v}' | sort
}
# The closure is resolved again when the roots or exclusions change.
roots_key=$(printf '%s\n' "${runtime_roots[@]}" "--" "${excluded[@]}")
if [ ! -s "$rt/closure.txt" ] || [ "$(cat "$rt/roots.txt" 2>/dev/null)" != "$roots_key" ]; then
  closure=$(resolve_closure)
  if [ -z "$closure" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    closure=$(resolve_closure)
  fi
  [ -n "$closure" ] || { echo "fetch-boot-packages: apt could not resolve ${runtime_roots[*]}" >&2; exit 1; }
  printf '%s\n' "${excluded[@]}" | sort > "$rt/excluded.txt.tmp"
  printf '%s\n' "$closure" > "$rt/closure.txt.tmp"
  mv "$rt/excluded.txt.tmp" "$rt/excluded.txt"
  mv "$rt/closure.txt.tmp" "$rt/closure.txt"
  printf '%s\n' "$roots_key" > "$rt/roots.txt"
fi
mapfile -t fetch < <(awk '{print $1}' "$rt/closure.txt" | grep -vxF -f "$rt/excluded.txt")
download "$rt" "${fetch[@]}" "${runtime_data[@]}"
echo "$cache"
