#!/usr/bin/env bash
# bench-compare: our virtual-disk writers against qemu-img (and our SHA-256
# against sha256sum) on the same 2 GiB disk, 1 GiB of random data and 1 GiB
# of holes, in one run. Prints, per case, both wall times, the ratio
# theirs/ours (above 1: we are faster; medians of RUNS runs each, default
# 3) and our largest peak RSS. Run by
# `make bench-compare`; needs qemu-img and GNU time (.ci/apt-packages).
# Then scripts/bench-verity.sh and scripts/bench-pipeline.sh (end to end
# against the standard-tool pipeline) add their sections.
# BENCH_DIR overrides the scratch directory (default: a temp dir, removed).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in qemu-img /usr/bin/time sha256sum openssl go; do
	command -v "$tool" >/dev/null || { echo "bench-compare: $tool is missing (make deps)" >&2; exit 1; }
done

dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/var/tmp}/hardvm-bench.XXXXXX")}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"
bin="$dir/hardvm"
go build -o "$bin" ./cmd/hardvm

disk="$dir/disk.raw"
# 2 GiB: sixteen 64 MiB runs of random data, each followed by a 64 MiB hole.
rm -f "$disk"
truncate -s 2G "$disk"
for i in $(seq 0 15); do
	# (openssl dies of SIGPIPE once dd has its 64 MiB: not an error here)
	{ openssl enc -aes-128-ctr -nosalt -pass pass:"hardvm-bench-$i" -in /dev/zero 2>/dev/null || true; } |
		dd of="$disk" bs=1M count=64 seek=$((i * 128)) conv=notrunc status=none iflag=fullblock
done
sync                   # no writeback of the disk itself during the runs
cat "$disk" >/dev/null # into the page cache for both sides
echo "disk: $(du -h --apparent-size "$disk" | cut -f1) apparent, $(du -h "$disk" | cut -f1) allocated, $(nproc) CPUs"

# timed FILE OUTPUT CMD...: runs CMD then fsyncs OUTPUT (`sync OUTPUT`),
# writes "seconds maxrss_kib" to FILE. The fsync is timed: our writers fsync
# their output and qemu-img does not, so both sides pay for getting their
# data to disk, and only theirs: a bare `sync` would also time the dirty
# pages of everything else running on the machine.
timed() {
	local out=$1 output=$2
	shift 2
	/usr/bin/time -f "%e %M" -o "$out" sh -c 'out=$1; shift; "$@" && if [ -e "$out" ]; then sync "$out"; fi' sh "$output" "$@" >/dev/null
}

# RUNS: each row runs theirs and ours in turn this many times and keeps the
# median of each (the machine is shared; one run says little).
RUNS=${RUNS:-3}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-34s %10s %10s %8s %14s\n' "case" "theirs s" "ours s" "ratio" "our peak RSS"
row() { # name their-cmd -- our-cmd
	local name=$1
	shift
	local theirs=() ours=()
	while [ "$1" != "--" ]; do theirs+=("$1"); shift; done
	shift
	ours=("$@")
	local i ts=() os=() rss=()
	for ((i = 0; i < RUNS; i++)); do
		rm -f "$dir"/out.*
		timed "$dir/t.theirs" "${theirs[-1]}" "${theirs[@]}"
		rm -f "$dir"/out.*
		timed "$dir/t.ours" "${ours[-1]}" "${ours[@]}"
		rm -f "$dir"/out.*
		read -r t _ <"$dir/t.theirs"
		read -r o r <"$dir/t.ours"
		ts+=("$t") os+=("$o") rss+=("$r")
	done
	ts=$(printf '%s\n' "${ts[@]}" | median)
	os=$(printf '%s\n' "${os[@]}" | median)
	orss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
	awk -v n="$name" -v t="$ts" -v o="$os" -v r="$orss" 'BEGIN {
		if (o < 0.01) o = 0.01
		printf "%-34s %10.2f %10.2f %7.2fx %10.1f MiB\n", n, t, o, t / o, r / 1024 }'
}

row "raw -> qcow2" \
	qemu-img convert -f raw -O qcow2 "$disk" "$dir/out.qcow2" -- \
	"$bin" convert --digest=false --to qcow2 "$disk" "$dir/out.qcow2"
row "raw -> qcow2 compressed (-c -m 2 -W)" \
	qemu-img convert -c -m 2 -W -f raw -O qcow2 "$disk" "$dir/out.qcow2" -- \
	"$bin" convert --digest=false --to qcow2 --compress "$disk" "$dir/out.qcow2"
row "raw -> vhd fixed" \
	qemu-img convert -f raw -O vpc -o subformat=fixed "$disk" "$dir/out.vhd" -- \
	"$bin" convert --digest=false --to vhd "$disk" "$dir/out.vhd"
row "raw -> vmdk streamOptimized" \
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$disk" "$dir/out.vmdk" -- \
	"$bin" convert --digest=false --to vmdk "$disk" "$dir/out.vmdk"
row "raw -> raw (sparse copy)" \
	qemu-img convert -f raw -O raw "$disk" "$dir/out.raw" -- \
	"$bin" convert --digest=false --to raw "$disk" "$dir/out.raw"
row "sha256sum vs raw export + sha256" \
	sha256sum "$disk" -- \
	"$bin" convert --to raw "$disk" "$dir/out.raw"
row "qemu-img vmdk vs our ova" \
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$disk" "$dir/out.vmdk" -- \
	"$bin" convert --digest=false --to ova "$disk" "$dir/out.ova"

if [ -f scripts/bench-verity.sh ]; then
	echo
	echo "verity (scripts/bench-verity.sh, 1 GiB of data):"
	mkdir -p "$dir/verity"
	HARDVM="$bin" WORK="$dir/verity" bash scripts/bench-verity.sh || echo "bench-verity.sh failed" >&2
fi

if [ -f scripts/bench-pipeline.sh ]; then
	echo
	echo "end to end (scripts/bench-pipeline.sh, the real-package nginx appliance):"
	mkdir -p "$dir/pipeline"
	HARDVM="$bin" WORK="$dir/pipeline" bash scripts/bench-pipeline.sh || echo "bench-pipeline.sh failed" >&2
fi
