#!/bin/sh
# gc-content.sh - per-sequence GC fraction and k-mer counts for a directory of FASTA files.
#
# Portable POSIX sh + awk: runs with busybox sh/awk/sort (inside the OCI image built by
# ../build_image.py) and with a host's /bin/sh (dash, bash) and awk (gawk, mawk, busybox).
# The outputs are byte-deterministic: LC_ALL=C, files read in byte order, fixed number formats
# and a total sort order on the k-mer table.
#
# Exit status: 0 success, 1 runtime error (unreadable or malformed input), 2 usage error.

set -u
LC_ALL=C
export LC_ALL

PROG=gc-content.sh
VERSION=1.0.0

usage() {
    cat <<'EOF'
Usage: gc-content.sh --k K --min-length N [--name-prefix P] IN_DIR OUT_DIR

Reads every *.fa, *.fasta and *.fna file in IN_DIR (byte-sorted names, hidden files
ignored), parses multi-line FASTA and, for every sequence at least N residues long, writes

  OUT_DIR/<P>gc.tsv     file, id, length, gc_fraction (6 decimals), in input order
  OUT_DIR/<P>kmers.tsv  kmer, count over all kept sequences, by count desc then kmer asc

gc_fraction = (G + C) / (A + C + G + T); other residues (N, IUPAC codes, gaps) count in
length but not in the fraction. Sequences are upper-cased; k-mers containing anything but
A, C, G, T are skipped and k-mers never span two sequences.

Options:
  --k K              k-mer length, an integer >= 1 (required)
  --min-length N     skip sequences shorter than N residues, an integer >= 0 (required)
  --name-prefix P    prefix for the output file names (letters, digits, '.', '_', '-')
  -h, --help         show this help and exit
  --version          show the version and exit
Options also accept the --opt=VALUE form.
EOF
}

usage_error() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    printf "Try '%s --help' for more information.\n" "$PROG" >&2
    exit 2
}

die() {
    printf '%s: error: %s\n' "$PROG" "$1" >&2
    exit 1
}

k=
min_length=
prefix=
prefix_set=
in_dir=
out_dir=
npos=0

# check_once OPTION CURRENT: refuses a repeated option (one value per parameter keeps a
# rendered command line unambiguous for provenance records).
check_once() {
    [ -z "$2" ] || usage_error "option $1 given more than once"
}

add_positional() {
    npos=$((npos + 1))
    case $npos in
        1) in_dir=$1 ;;
        2) out_dir=$1 ;;
        *) usage_error "unexpected argument: $1 (expected IN_DIR OUT_DIR)" ;;
    esac
}

while [ $# -gt 0 ]; do
    case $1 in
        --k|--min-length|--name-prefix)
            [ $# -ge 2 ] || usage_error "option $1 needs a value"
            opt=$1
            val=$2
            shift 2
            ;;
        --k=*|--min-length=*|--name-prefix=*)
            opt=${1%%=*}
            val=${1#*=}
            shift
            ;;
        -h|--help)
            usage
            exit 0
            ;;
        --version)
            printf '%s %s\n' "$PROG" "$VERSION"
            exit 0
            ;;
        --)
            shift
            for a in "$@"; do add_positional "$a"; done
            break
            ;;
        -?*)
            usage_error "unknown option: $1"
            ;;
        *)
            add_positional "$1"
            shift
            continue
            ;;
    esac
    case $opt in
        --k) check_once "$opt" "$k"; k=$val ;;
        --min-length) check_once "$opt" "$min_length"; min_length=$val ;;
        --name-prefix) check_once "$opt" "$prefix_set"; prefix=$val; prefix_set=1 ;;
    esac
done

[ -n "$k" ] || usage_error "missing required option --k"
[ -n "$min_length" ] || usage_error "missing required option --min-length"
case $k in
    *[!0-9]*) usage_error "--k must be an integer >= 1, got '$k'" ;;
esac
# Strip leading zeros so that '007' and '7' mean the same thing and huge values are caught.
while :; do case $k in 0*) k=${k#0} ;; *) break ;; esac; done
[ -n "$k" ] || usage_error "--k must be an integer >= 1, got 0"
[ ${#k} -le 9 ] || usage_error "--k is too large: $k"
case $min_length in
    ''|*[!0-9]*) usage_error "--min-length must be an integer >= 0, got '$min_length'" ;;
esac
while :; do case $min_length in 0*) min_length=${min_length#0} ;; *) break ;; esac; done
[ -n "$min_length" ] || min_length=0
[ ${#min_length} -le 15 ] || usage_error "--min-length is too large: $min_length"
case $prefix in
    *[!A-Za-z0-9._-]*) usage_error "--name-prefix may only contain letters, digits, '.', '_' and '-', got '$prefix'" ;;
esac
[ "$npos" -eq 2 ] || usage_error "expected IN_DIR and OUT_DIR, got $npos positional argument(s)"

[ -d "$in_dir" ] || die "input directory not found: $in_dir"

# Input files: regular files with a FASTA extension, byte-sorted (independent of the shell's
# glob collation).
names=$(
    for path in "$in_dir"/*; do
        name=${path##*/}
        case $name in
            *.fa|*.fasta|*.fna) [ -f "$path" ] && printf '%s\n' "$name" ;;
        esac
    done | sort
)
[ -n "$names" ] || die "no *.fa, *.fasta or *.fna files in $in_dir"
set --
while IFS= read -r name; do
    set -- "$@" "$in_dir/$name"
done <<EOF
$names
EOF

mkdir -p -- "$out_dir" || die "cannot create output directory: $out_dir"
gc_out="$out_dir/${prefix}gc.tsv"
kmer_out="$out_dir/${prefix}kmers.tsv"
gc_tmp="$out_dir/.${prefix}gc.tsv.tmp.$$"
kmer_tmp="$out_dir/.${prefix}kmers.tsv.tmp.$$"
trap 'rm -f -- "$gc_tmp" "$kmer_tmp" "$kmer_tmp.sorted"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Paths go through the environment: awk -v would interpret backslash escapes in them.
GC_TMP=$gc_tmp KMER_TMP=$kmer_tmp awk -v k="$k" -v minlen="$min_length" '
function fail(msg) {
    print "gc-content.sh: error: " msg | "cat 1>&2"
    failed = 1
    exit 1
}
function flush(    n, i, km, tmp, gc, at, frac) {
    if (!have) return
    have = 0
    nseq++
    n = length(seq)
    if (n < minlen) return
    kept++
    tmp = seq; gc = gsub(/[GC]/, "", tmp)
    tmp = seq; at = gsub(/[AT]/, "", tmp)
    frac = (gc + at > 0) ? gc / (gc + at) : 0
    printf "%s\t%s\t%d\t%.6f\n", fname, id, n, frac > gcfile
    for (i = 1; i <= n - k + 1; i++) {
        km = substr(seq, i, k)
        if (km !~ /[^ACGT]/) count[km]++
    }
}
BEGIN {
    k += 0
    minlen += 0
    gcfile = ENVIRON["GC_TMP"]
    kmerfile = ENVIRON["KMER_TMP"]
    printf "file\tid\tlength\tgc_fraction\n" > gcfile
    have = 0
}
FNR == 1 {
    flush()
    nfiles++
    fname = FILENAME
    sub(/.*\//, "", fname)
}
{ sub(/\r$/, "") }
/^>/ {
    flush()
    id = substr($0, 2)
    sub(/^[ \t]+/, "", id)
    sub(/[ \t].*$/, "", id)
    if (id == "") fail("empty sequence identifier in " fname " line " FNR)
    have = 1
    seq = ""
    next
}
/^[ \t]*$/ { next }
{
    if (!have) fail("sequence data before the first header in " fname " line " FNR)
    line = toupper($0)
    gsub(/[ \t]/, "", line)
    seq = seq line
}
END {
    if (failed) exit 1
    flush()
    distinct = 0
    for (km in count) {
        print km "\t" count[km] > kmerfile
        distinct++
    }
    if (!distinct) printf "" > kmerfile
    close(gcfile)
    close(kmerfile)
    print "gc-content.sh: kept " kept + 0 " of " nseq + 0 " sequences from " nfiles + 0 \
        " file(s); " distinct " distinct " k "-mers" | "cat 1>&2"
}
' "$@" || die "processing failed"

tab=$(printf '\t')
{
    printf 'kmer\tcount\n'
    sort -t "$tab" -k2,2nr -k1,1 -- "$kmer_tmp"
} > "$kmer_tmp.sorted" || die "sorting k-mers failed"
mv -f -- "$gc_tmp" "$gc_out" || die "cannot write $gc_out"
mv -f -- "$kmer_tmp.sorted" "$kmer_out" || die "cannot write $kmer_out"
