#!/bin/sh
# gc-summary.sh - summary statistics of a gc-content.sh table (file, id, length, gc_fraction).
#
# Usage: gc-summary.sh --min-gc X GC_TSV   (writes the summary to standard output)
#
# One row per input file plus a "total" row: sequences, bases, mean, minimum and maximum GC
# fraction (six decimals) and the number of sequences whose GC fraction is >= X. Rows are in
# byte order of the file names (LC_ALL=C), the total last, so the output is byte-deterministic.
# Exit status: 0 success, 1 unreadable or malformed table, 2 usage error.

set -u
LC_ALL=C
export LC_ALL

usage() {
    echo "usage: gc-summary.sh --min-gc X GC_TSV" >&2
    exit 2
}

min_gc=
while [ $# -gt 0 ]; do
    case $1 in
        --min-gc) [ $# -ge 2 ] || usage; min_gc=$2; shift 2 ;;
        --min-gc=*) min_gc=${1#--min-gc=}; shift ;;
        -h|--help) echo "usage: gc-summary.sh --min-gc X GC_TSV"; exit 0 ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage
case $min_gc in
    ''|*[!0-9.]*|*.*.*) echo "gc-summary.sh: --min-gc must be a number between 0 and 1, got '$min_gc'" >&2; exit 2 ;;
esac
table=$1
[ -r "$table" ] || { echo "gc-summary.sh: cannot read $table" >&2; exit 1; }

header=$(head -n 1 "$table")
if [ "$header" != "$(printf 'file\tid\tlength\tgc_fraction')" ]; then
    echo "gc-summary.sh: $table is not a gc-content table (header: $header)" >&2
    exit 1
fi
# Rows grouped by file name in byte order (sort is stable on the first field only).
tail -n +2 "$table" | sort -t "$(printf '\t')" -k1,1 -s | awk -F '\t' -v min_gc="$min_gc" '
BEGIN { printf "file\tsequences\tbases\tmean_gc\tmin_gc\tmax_gc\tgc_at_least_%s\n", min_gc }
function flush() {
    if (cur == "") return
    printf "%s\t%d\t%d\t%.6f\t%.6f\t%.6f\t%d\n", cur, n, b, s / n, lo, hi, a
}
NF != 4 { print "gc-summary.sh: malformed row: " $0 > "/dev/stderr"; bad = 1; exit 1 }
{
    if ($1 != cur) { flush(); cur = $1; n = 0; b = 0; s = 0; a = 0; lo = $4 + 0; hi = $4 + 0 }
    n++; b += $3; s += $4
    if ($4 + 0 < lo) lo = $4 + 0
    if ($4 + 0 > hi) hi = $4 + 0
    if ($4 + 0 >= min_gc + 0) a++
    tn++; tb += $3; ts += $4
    if (tn == 1 || $4 + 0 < tlo) tlo = $4 + 0
    if (tn == 1 || $4 + 0 > thi) thi = $4 + 0
    if ($4 + 0 >= min_gc + 0) ta++
}
END {
    if (bad) exit 1
    flush()
    if (tn > 0) printf "total\t%d\t%d\t%.6f\t%.6f\t%.6f\t%d\n", tn, tb, ts / tn, tlo, thi, ta
    else printf "total\t0\t0\t0.000000\t0.000000\t0.000000\t0\n"
}'
