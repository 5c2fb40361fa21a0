#!/usr/bin/env bash
# Installs what the tests need and is missing: Debian packages listed in
# .ci/apt-packages, Go tools in .ci/go-tools (module@version), npm packages in
# .ci/npm-packages. Idempotent and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

mapfile -t apt < <(grep -v '^\s*#' .ci/apt-packages | awk 'NF{print $1}')
missing=()
for p in "${apt[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: apt-get install ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "deps: need root to install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A line of .ci/go-tools is module@version, optionally after VAR=value
# words that go install needs in its environment (trivy: GOEXPERIMENT).
while read -r -a words; do
  ((${#words[@]})) || continue
  [[ "${words[0]}" == \#* ]] && continue
  mod="${words[-1]}"
  envs=("${words[@]:0:${#words[@]}-1}")
  for e in "${envs[@]}"; do
    [[ "$e" =~ ^[A-Z_][A-Z0-9_]*= ]] || { echo "deps: .ci/go-tools: $e: want VAR=value before $mod" >&2; exit 1; }
  done
  bin=$(basename "${mod%@*}")
  [[ "$bin" =~ ^v[0-9]+$ ]] && bin=$(basename "$(dirname "${mod%@*}")")
  if ! command -v "$bin" >/dev/null; then
    echo "deps: ${envs[*]:+${envs[*]} }go install $mod"
    start=$SECONDS
    env GOFLAGS= "${envs[@]}" go install "$mod"
    echo "deps: $bin built in $((SECONDS - start)) s"
  fi
done < .ci/go-tools

while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  bin="${pkg%@*}"; bin="${bin##*/}"
  if ! command -v "$bin" >/dev/null; then
    echo "deps: npm install -g $pkg"
    npm install -g --no-audit --no-fund "$pkg" >/dev/null
  fi
done < .ci/npm-packages
scripts/fetch-boot-packages.sh >/dev/null
# Debian's arm64 packages for the aarch64 boot test (adds the architecture to dpkg).
HARDVM_BOOT_ARCH=arm64 scripts/fetch-boot-packages.sh >/dev/null
