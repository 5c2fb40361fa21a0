#!/usr/bin/env bash
# bench-verity.sh: times `hardvm verity format` against `veritysetup format`
# on the same data, salt and UUID, checks that both write the same root hash
# and byte-identical hash devices, and prints the ratio (theirs/ours: above 1
# means we are faster) and our peak RSS. scripts/bench-compare.sh calls it.
#
# Usage: scripts/bench-verity.sh [DATA]
#   DATA   the data device to hash (a file whose size is a multiple of 4096);
#          default: a 1 GiB file of random data made in $WORK.
# Env:     RUNS (default 3; the best run counts), HARDVM (a built CLI; default:
#          built from ./cmd/hardvm), WORK (scratch dir; default mktemp).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d)}
trap '[[ -z "${KEEP:-}" ]] && rm -rf "$WORK"' EXIT
TIME=/usr/bin/time
command -v veritysetup >/dev/null || { echo "bench-verity: veritysetup not found (make deps)" >&2; exit 1; }
[[ -x $TIME ]] || { echo "bench-verity: $TIME not found (apt-get install time)" >&2; exit 1; }

if [[ -z "${HARDVM:-}" ]]; then
	HARDVM=$WORK/hardvm
	go build -o "$HARDVM" ./cmd/hardvm
fi

DATA=${1:-}
if [[ -z "$DATA" ]]; then
	DATA=$WORK/data
	# 1 GiB of incompressible data, quickly: AES-CTR keystream.
	openssl enc -aes-128-ctr -nosalt -pass pass:hardvm-bench -pbkdf2 -in <(head -c 1073741824 /dev/zero) -out "$DATA" 2>/dev/null
fi
SALT=5bd1b4cf0bb5a9c1c0a8ee2b3fd8e2b1d1c5e4a36f6c2b8a9e7d1f0c3b2a1908
UUID=6c6f2a8e-3d1b-4e5f-9a7c-2b1d0e3f4a5b

# best_of OUT CMD...: runs CMD $RUNS times, its stdout to OUT; prints
# "seconds peak_rss_kib cpu_seconds" of the fastest run.
best_of() {
	local best="" rss=0 cpu=0 i out stdout=$1
	shift
	for ((i = 0; i < RUNS; i++)); do
		out=$($TIME -f '%e %M %U %S' "$@" 2>&1 >"$stdout" | tail -1)
		read -r s m u k <<<"$out"
		if [[ -z "$best" ]] || awk "BEGIN{exit !($s < $best)}"; then
			best=$s rss=$m cpu=$(awk "BEGIN{print $u + $k}")
		fi
	done
	echo "$best $rss $cpu"
}

cat "$DATA" >/dev/null # warm the page cache for both
read -r theirs theirs_rss theirs_cpu < <(best_of "$WORK/out.veritysetup" veritysetup format --salt "$SALT" --uuid "$UUID" "$DATA" "$WORK/hash.veritysetup")
read -r ours ours_rss ours_cpu < <(best_of "$WORK/out.hardvm" "$HARDVM" verity format --salt "$SALT" --uuid "$UUID" "$DATA" "$WORK/hash.hardvm")

want=$(awk '/Root hash:/{print $3}' "$WORK/out.veritysetup")
got=$(cat "$WORK/out.hardvm")
if [[ "$want" != "$got" ]]; then
	echo "bench-verity: root hash $got differs from veritysetup's $want" >&2
	exit 1
fi
cmp -s "$WORK/hash.veritysetup" "$WORK/hash.hardvm" || { echo "bench-verity: hash devices differ" >&2; exit 1; }

size=$(stat -c %s "$DATA")
ratio=$(awk "BEGIN{printf \"%.2f\", $theirs / ($ours > 0 ? $ours : 0.001)}")
# Wall time decides the ratio; CPU time (user+sys) shows the work each did,
# which matters when other jobs share the cores.
printf '%-32s %8s %8s %7s %12s %16s\n' "" theirs ours ratio "our peak RSS" "cpu theirs/ours"
printf '%-32s %7ss %7ss %6sx %8d MiB %7ss/%ss\n' "verity format ($((size >> 20)) MiB, $(nproc) cpu)" \
	"$theirs" "$ours" "$ratio" "$((ours_rss / 1024))" "$theirs_cpu" "$ours_cpu"
