#!/usr/bin/env bash
# bench-pipeline.sh: `hardvm build` end to end against the same work done
# with the standard tools a user would script, for the real-package nginx
# appliance of "Images that run" (examples/appliance: Debian's packages
# repackaged as signed APKs by internal/debrepo, offline after `make deps`).
#
# Theirs, one shell script, timed as a whole:
#   tar -xzf of every package of the lock into a tree, mkfs.erofs (no
#   compression, as ours), veritysetup format, a FAT ESP (mkfs.vfat +
#   mcopy of the UKI), the GPT disk (truncate + sgdisk + dd, mkfs.ext4 for
#   /var at its offset), qemu-img convert to each format of the platform,
#   sha256sum of every disk, sync.
# Ours: hardvm build --spec (resolve, verify and install the packages,
#   erofs, dm-verity, UKI, GPT, export, SBOM, SLSA provenance, signing and
#   verification of the directory; every file fsynced).
# Theirs does less: no resolution or signature checks, no users or
# configuration, no UKI (it copies ours, made beforehand, untimed), no
# SBOM, provenance or signatures.
#
# Then the outputs are compared where they can be: virtual sizes, the
# partition table's shape, and the dm-verity root hash: veritysetup
# format run on our erofs partition with our salt must give our signed
# root hash (the erofs bytes themselves differ: see the end of the output).
# Also: install (ours: hardvm install to a tar) versus tar -xzf of the same
# packages into a directory.
#
# Usage: scripts/bench-pipeline.sh   (scripts/bench-compare.sh calls it)
# Env:   RUNS (default 3; the median counts), HARDVM (a built CLI; default:
#        built from ./cmd/hardvm), WORK (scratch dir; default mktemp).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/var/tmp}/hardvm-pipeline.XXXXXX")}
trap '[[ -z "${KEEP:-}" ]] && rm -rf "$WORK"' EXIT
mkdir -p "$WORK"
for tool in tar mkfs.erofs fsck.erofs veritysetup sgdisk mkfs.vfat mcopy mmd mkfs.ext4 qemu-img sha256sum jq /usr/bin/time go; do
	command -v "$tool" >/dev/null || { echo "bench-pipeline: $tool is missing (make deps)" >&2; exit 1; }
done
if [[ -z "${HARDVM:-}" ]]; then
	HARDVM=$WORK/hardvm
	go build -o "$HARDVM" ./cmd/hardvm
fi

# The nginx appliance's spec and repository, as examples/appliance builds
# them (this also makes the APK repository from the cached .deb files once).
go run ./examples/appliance -out "$WORK/appliance" >"$WORK/appliance.log"
jq .spec "$WORK/appliance/nginx/lock.json" >"$WORK/spec.json"
repo=$(jq -r '.repositories[0].url' "$WORK/spec.json")
repo=${repo#file://}
arch=$(jq -r .arch "$WORK/spec.json")
epoch=$(jq -r .source_date_epoch "$WORK/spec.json")
size=$(jq -r '.artifacts[0].virtual_size // empty' <("$HARDVM" build --spec "$WORK/spec.json" --out "$WORK/probe" --json 2>/dev/null))
formats=$(jq -r '.formats[]' "$WORK/spec.json")
jq -r --arg d "$repo/$arch" '.packages[] | "\($d)/\(.name)-\(.version).apk"' "$WORK/probe/lock.json" >"$WORK/packages"
# Theirs copies our UKI (ukify is not a Debian 12 tool); it is not timed.
mcopy -n -i "$WORK/probe/disk.raw@@1M" ::/EFI/BOOT/BOOTX64.EFI "$WORK/uki.efi"
rm -rf "$WORK/probe"
echo "nginx appliance: $(wc -l <"$WORK/packages") packages, $(cat "$WORK/packages" | xargs du -cb | tail -1 | cut -f1) bytes of APKs, disk $((size >> 20)) MiB, formats: $formats, $(nproc) CPUs"

# theirs.sh: the standard-tool pipeline.
cat >"$WORK/theirs.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
T=$WORK/theirs
rm -rf "\$T"; mkdir -p "\$T/tree"
while read -r p; do tar -xzf "\$p" -C "\$T/tree" --warning=no-unknown-keyword; done <$WORK/packages
rm -f "\$T"/tree/.PKGINFO "\$T"/tree/.SIGN.* "\$T"/tree/.pre-* "\$T"/tree/.post-* "\$T"/tree/.trigger
mkfs.erofs --quiet -T $epoch -U 00000000-0000-4000-8000-000000000001 "\$T/root.erofs" "\$T/tree"
veritysetup format "\$T/root.erofs" "\$T/root.verity" >"\$T/verity.out"
mkfs.vfat -C -n ESP "\$T/esp.img" 65536 >/dev/null
mmd -i "\$T/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "\$T/esp.img" $WORK/uki.efi ::/EFI/BOOT/BOOTX64.EFI
mib() { echo \$(( (\$(stat -c %s "\$1") + (1 << 20) - 1) >> 20 )); }
truncate -s $size "\$T/disk.raw"
sgdisk -n 1:2048:+64M -t 1:ef00 -c 1:esp \\
	-n 2:0:+\$(mib "\$T/root.erofs")M -t 2:8304 -c 2:root-x86-64 \\
	-n 3:0:+\$(mib "\$T/root.verity")M -t 3:830c -c 3:root-x86-64-verity \\
	-n 4:0:0 -t 4:8310 -c 4:var "\$T/disk.raw" >/dev/null
put() { # put PARTITION FILE
	local first
	first=\$(sgdisk -i "\$1" "\$T/disk.raw" | awk '/^First sector/{print \$3}')
	dd if="\$2" of="\$T/disk.raw" bs=512 seek="\$first" conv=notrunc,sparse status=none
}
put 1 "\$T/esp.img"; put 2 "\$T/root.erofs"; put 3 "\$T/root.verity"
read -r vfirst vlast < <(sgdisk -i 4 "\$T/disk.raw" | awk '/^First sector/{f=\$3} /^Last sector/{l=\$3} END{print f, l}')
mkfs.ext4 -q -F -L var -E offset=\$((vfirst * 512)) "\$T/disk.raw" \$(( (vlast - vfirst + 1) / 2 ))k
EOF
for f in $formats; do
	case $f in
	qcow2) echo 'qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$T/disk.qcow2"' ;;
	vhd) echo 'qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$T/disk.raw" "$T/disk.vhd"' ;;
	vmdk) echo 'qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/disk.raw" "$T/disk.vmdk"' ;;
	raw) ;;
	*) echo "bench-pipeline: no standard-tool step for format $f" >&2; exit 1 ;;
	esac
done >>"$WORK/theirs.sh"
echo 'sha256sum "$T"/disk.* >"$T/SHA256SUMS"; sync' >>"$WORK/theirs.sh"

# ours.sh: hardvm build of the same spec.
cat >"$WORK/ours.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
rm -rf $WORK/ours
exec $HARDVM build --quiet --spec $WORK/spec.json --out $WORK/ours --json >$WORK/ours.json
EOF

# install-theirs.sh / install-ours.sh: installing alone.
cat >"$WORK/install-theirs.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
rm -rf $WORK/itree; mkdir $WORK/itree
while read -r p; do tar -xzf "\$p" -C $WORK/itree --warning=no-unknown-keyword; done <$WORK/packages
EOF
cat >"$WORK/install-ours.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
exec $HARDVM install --spec $WORK/spec.json --out $WORK/rootfs.tar >/dev/null 2>&1
EOF
chmod +x "$WORK"/*.sh

# median_of OUT SCRIPT: runs SCRIPT $RUNS times after one warm-up; writes
# "seconds peak_rss_kib" of the median run (by time) to OUT.
median_of() {
	local out=$1 script=$2 i
	: >"$out.all"
	"$script" # warm-up: page cache, package cache
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f '%e %M' -o "$out.one" "$script"
		cat "$out.one" >>"$out.all"
	done
	sort -n "$out.all" | sed -n "$(((RUNS + 1) / 2))p" >"$out"
}
median_of "$WORK/t.theirs" "$WORK/theirs.sh"
median_of "$WORK/t.ours" "$WORK/ours.sh"
median_of "$WORK/i.theirs" "$WORK/install-theirs.sh"
median_of "$WORK/i.ours" "$WORK/install-ours.sh"

printf '%-44s %10s %10s %8s %14s\n' "case (median of $RUNS)" "theirs s" "ours s" "ratio" "our peak RSS"
line() {
	read -r ts _ <"$2"
	read -r os orss <"$3"
	awk -v n="$1" -v t="$ts" -v o="$os" -v r="$orss" 'BEGIN {
		if (o < 0.01) o = 0.01
		printf "%-44s %10.2f %10.2f %7.2fx %10.1f MiB\n", n, t, o, t / o, r / 1024 }'
}
line "nginx image end to end (standard tools)" "$WORK/t.theirs" "$WORK/t.ours"
line "install: tar -xzf vs hardvm install (tar)" "$WORK/i.theirs" "$WORK/i.ours"

# The outputs, compared where they can be.
T=$WORK/theirs O=$WORK/ours
fail=0
check() { # check WHAT THEIRS OURS
	if [[ "$2" == "$3" ]]; then
		echo "  same   $1: $3"
	else
		echo "  DIFFER $1: theirs $2, ours $3"
		fail=1
	fi
}
echo "outputs:"
for f in raw $formats; do
	check "virtual size of disk.$f" "$(qemu-img info --output=json "$T/disk.$f" | jq '."virtual-size"')" \
		"$(qemu-img info --output=json "$O/disk.$f" | jq '."virtual-size"')"
done
check "partition types" "$(sgdisk -p "$T/disk.raw" | awk '/^ +[0-9]/{printf "%s ", $6}')" \
	"$(sgdisk -p "$O/disk.raw" | awk '/^ +[0-9]/{printf "%s ", $6}')"
for f in raw $formats; do
	check "our disk.$f's digest: sha256sum, signed" "$(sha256sum "$O/disk.$f" | cut -d' ' -f1)" \
		"$(jq -r --arg f "$f" '.artifacts[] | select(.format == $f) | .sha256' "$WORK/ours.json")"
done
# Our root partition and its hash tree, cut out of our raw disk.
part() { # part DISK N OUT
	local first last
	read -r first last < <(sgdisk -i "$2" "$1" | awk '/^First sector/{f=$3} /^Last sector/{l=$3} END{print f, l}')
	dd if="$1" of="$3" bs=512 skip="$first" count=$((last - first + 1)) status=none
}
part "$O/disk.raw" 2 "$WORK/our.erofs"
part "$O/disk.raw" 3 "$WORK/our.verity"
ours_hash=$(jq -r '.artifacts[0].root_hash' "$WORK/ours.json")
salt=$(veritysetup dump "$WORK/our.verity" | awk '/^Salt:/{print $2}')
blocks=$(veritysetup dump "$WORK/our.verity" | awk '/^Data blocks:/{print $3}')
theirs_on_ours=$(veritysetup format --salt "$salt" --data-blocks "$blocks" "$WORK/our.erofs" "$WORK/their.verity" | awk '/^Root hash:/{print $3}')
check "root hash of our erofs (veritysetup format, our salt)" "$theirs_on_ours" "$ours_hash"
if veritysetup verify --hash-offset 0 "$WORK/our.erofs" "$WORK/our.verity" "$ours_hash" >/dev/null 2>&1; then
	echo "  ok     veritysetup verify of our root partition against our hash tree"
else
	echo "  FAILED veritysetup verify of our root partition against our hash tree"
	fail=1
fi
fsck.erofs "$WORK/our.erofs" >/dev/null && echo "  ok     fsck.erofs of our root partition"
theirs_hash=$(awk '/^Root hash:/{print $3}' "$T/verity.out")
if cmp -s <(head -c "$(stat -c %s "$T/root.erofs")" "$WORK/our.erofs") "$T/root.erofs"; then
	check "root hash (same erofs bytes)" "$theirs_hash" "$ours_hash"
else
	# Not the same bytes: the trees differ (ours is the configured image:
	# users, hardening, first-boot agent) and the two writers lay out the
	# same files differently; only the root hash of the same bytes compares.
	echo "  n/a    root hash of their erofs ($theirs_hash): not the same erofs bytes (ours is the configured tree, theirs the packages' files; the writers lay them out differently)"
fi
exit $fail
