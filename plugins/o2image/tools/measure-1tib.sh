#!/usr/bin/env bash
# Measure relic listing the packed o2image of a 1 TiB OCFS2 volume: wall time, peak RSS and
# the size of the block index. Not part of the tests (it writes a ~1.2 GB packed image: mkfs
# grows the extent allocator to ~1.1 GB, which o2image copies whole).
#
#   plugins/o2image/tools/measure-1tib.sh [TARGET_DIR]   (default: /work/target-o2image)
# Needs ocfs2-tools, GNU time (/usr/bin/time), ~1.3 GB free under TMPDIR, and relic plus
# the o2image plugin built into TARGET_DIR/debug (or release).
set -euo pipefail
target=${1:-/work/target-o2image}
relic=$target/release/relic
[ -x "$relic" ] || relic=$target/debug/relic
plugins=$(dirname "$relic")
export PATH=$PATH:/usr/sbin:/sbin RELIC_PLUGIN_PATH=$plugins
work=$(mktemp -d "${TMPDIR:-/tmp}/relic-1tib.XXXXXX")
trap 'rm -rf "$work"' EXIT
truncate -s 1T "$work/v.img"
mkfs.ocfs2 -M local -b 4K -C 4K -N 1 -J size=4M -L big "$work/v.img" >"$work/mkfs.log" 2>&1
o2image "$work/v.img" "$work/v.o2i"
echo "packed image: $(stat -c %s "$work/v.o2i") bytes for a $(stat -c %s "$work/v.img")-byte volume"
/usr/bin/time -v "$relic" -v list -l --system "$work/v.o2i" >"$work/list.out" 2>"$work/time.out" || true
grep -E 'block index|Maximum resident|Elapsed' "$work/time.out"
echo "entries listed: $(wc -l <"$work/list.out")"
