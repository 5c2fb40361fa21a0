#!/bin/sh
# gengolden.sh WORLDS.tsv REPOROOT > golden.tsv
# REPOROOT holds alpine/aarch64/APKINDEX.tar.gz and cg/aarch64/APKINDEX.tar.gz
set -e
export LD_LIBRARY_PATH=/tmp/apkb/src
APK=/tmp/apkb/src/apk
while IFS='	' read -r name repos world; do
  R=$(mktemp -d); mkdir -p $R/etc/apk; echo aarch64 > $R/etc/apk/arch
  $APK --root $R --arch aarch64 --initdb --allow-untrusted --no-network add >/dev/null 2>&1
  : > $R/repos
  for r in $(echo $repos | tr ',' ' '); do
    case $r in @*=*) t=${r%%=*}; d=${r#*=}; echo "$t $2/$d" >> $R/repos;; *) echo "$2/$r" >> $R/repos;; esac
  done
  out=$($APK --root $R --arch aarch64 --allow-untrusted --repositories-file $R/repos --no-network add --simulate $world 2>&1 || true)
  if echo "$out" | grep -q "^ERROR"; then
    res="error: $(echo "$out" | grep -v '^ERROR' | sed 's/^ *//' | tr '\n' ';' )"
  else
    res="ok: $(echo "$out" | sed -n 's/^([0-9]*\/[0-9]*) Installing \([^ ]*\) (\(.*\))$/\1-\2/p' | sort | tr '\n' ' ' | sed 's/ $//')"
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$repos" "$world" "$res"
  rm -rf $R
done < "$1"
