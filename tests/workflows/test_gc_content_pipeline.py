"""gc-content.sh on the host: outputs against an independent Python implementation,
determinism across shells/awks, option handling and FASTA edge cases."""

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from gc_content_support import DATA_DIR, SCRIPT, PipelineRunner

FASTA_SUFFIXES = (".fa", ".fasta", ".fna")


# -- independent reference implementation ---------------------------------------------------


def parse_fasta(text: str) -> list[tuple[str, str]]:
    """(id, upper-cased sequence) records; the id is the first word of the header."""
    records: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith(">"):
            records.append((line[1:].split()[0], []))
        elif line.strip():
            records[-1][1].append("".join(line.split()).upper())
    return [(rid, "".join(parts)) for rid, parts in records]


def reference_outputs(in_dir: Path, k: int, min_length: int) -> tuple[str, str]:
    gc_lines = ["file\tid\tlength\tgc_fraction"]
    kmers: Counter[str] = Counter()
    inputs = [p for p in in_dir.iterdir() if p.suffix in FASTA_SUFFIXES and p.is_file()]
    for path in sorted(inputs, key=lambda p: p.name.encode()):
        for rid, seq in parse_fasta(path.read_text()):
            if len(seq) < min_length:
                continue
            gc = sum(seq.count(b) for b in "GC")
            acgt = gc + sum(seq.count(b) for b in "AT")
            frac = gc / acgt if acgt else 0.0
            gc_lines.append(f"{path.name}\t{rid}\t{len(seq)}\t{frac:.6f}")
            for i in range(len(seq) - k + 1):
                kmer = seq[i : i + k]
                if set(kmer) <= set("ACGT"):
                    kmers[kmer] += 1
    kmer_lines = ["kmer\tcount"] + [
        f"{kmer}\t{n}" for kmer, n in sorted(kmers.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return "\n".join(gc_lines) + "\n", "\n".join(kmer_lines) + "\n"


# -- sample data --------------------------------------------------------------------------


def test_committed_data_is_what_make_data_generates(make_data_mod: ModuleType, tmp_path: Path) -> None:
    written = make_data_mod.write_dataset(tmp_path)
    assert [p.name for p in written] == ["sample_a.fa", "sample_b.fasta", "sample_c.fna"]
    for path in written:
        assert path.read_bytes() == (DATA_DIR / path.name).read_bytes(), path.name
    records = [r for p in written for r in parse_fasta(p.read_text())]
    assert len(records) == 13
    assert all(50 <= len(seq) <= 400 for _, seq in records)


@pytest.mark.parametrize(("k", "min_length"), [(3, 100), (5, 0), (1, 200), (8, 150)])
def test_outputs_match_independent_python(
    run_pipeline: PipelineRunner, tmp_path: Path, k: int, min_length: int
) -> None:
    out = tmp_path / "out"
    proc = run_pipeline("--k", str(k), "--min-length", str(min_length), DATA_DIR, out)
    assert proc.returncode == 0, proc.stderr
    expected_gc, expected_kmers = reference_outputs(DATA_DIR, k, min_length)
    assert (out / "gc.tsv").read_text() == expected_gc
    assert (out / "kmers.tsv").read_text() == expected_kmers
    assert sorted(p.name for p in out.iterdir()) == ["gc.tsv", "kmers.tsv"]


def test_sample_values_k3_min100(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    """Pinned values for the documented example run (also what the image must reproduce)."""
    proc = run_pipeline("--k", "3", "--min-length", "100", DATA_DIR, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "gc-content.sh: kept 10 of 13 sequences from 3 file(s); 64 distinct 3-mers\n"
    gc = (tmp_path / "gc.tsv").read_text().splitlines()
    assert gc[0] == "file\tid\tlength\tgc_fraction"
    assert gc[1] == "sample_a.fa\tchrA_frag1\t240\t0.508333"
    assert gc[3] == "sample_a.fa\tchrA_frag4\t320\t0.325879"  # 7 N excluded: 102/313
    assert gc[5] == "sample_b.fasta\tplasmid_p2\t150\t0.570470"  # one R excluded: 85/149
    assert [line.split("\t")[1] for line in gc[1:]] == [
        "chrA_frag1",
        "chrA_frag2",
        "chrA_frag4",
        "plasmid_p1",
        "plasmid_p2",
        "plasmid_p4",
        "contig_001",
        "contig_002",
        "contig_003",
        "contig_004",
    ]
    kmers = (tmp_path / "kmers.tsv").read_text().splitlines()
    assert kmers[:3] == ["kmer\tcount", "CCC\t53", "TGC\t52"]
    assert len(kmers) == 65


# -- determinism and portability ------------------------------------------------------------


def test_host_run_is_deterministic(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    first = run_pipeline("--k", "4", "--min-length", "60", DATA_DIR, tmp_path / "a")
    # relative paths, the --opt=VALUE form and another cwd must not change a byte
    second = run_pipeline("--min-length=60", "--k=4", os.path.relpath(DATA_DIR, tmp_path), "b", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    for name in ("gc.tsv", "kmers.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _awk_variants() -> list[str]:
    return [name for name in ("gawk", "mawk", "busybox") if shutil.which(name)]


@pytest.mark.parametrize("awk", _awk_variants())
def test_same_bytes_with_every_awk(run_pipeline: PipelineRunner, tmp_path: Path, awk: str) -> None:
    """Only the chosen awk (and, for busybox, busybox sh/sort/...) is on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    busybox = shutil.which("busybox")
    if awk == "busybox":
        assert busybox is not None
        for applet in ("sh", "awk", "sort", "cat", "mkdir", "mv", "rm", "printf"):
            (bindir / applet).symlink_to(busybox)
        shell: tuple[str, ...] = (str(bindir / "sh"),)
        path = str(bindir)
    else:
        (bindir / "awk").symlink_to(shutil.which(awk) or awk)
        shell = ("/bin/sh",)
        path = f"{bindir}:/usr/bin:/bin"
    env = {"PATH": path}
    reference = run_pipeline("--k", "3", "--min-length", "100", DATA_DIR, tmp_path / "ref")
    proc = run_pipeline("--k", "3", "--min-length", "100", DATA_DIR, tmp_path / "out", shell=shell, env=env)
    assert reference.returncode == 0 and proc.returncode == 0, (reference.stderr, proc.stderr)
    for name in ("gc.tsv", "kmers.tsv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "missing required option --k"),
        (("--min-length", "1", "IN", "OUT"), "missing required option --k"),
        (("--k", "3", "IN", "OUT"), "missing required option --min-length"),
        (("--k", "0", "--min-length", "1", "IN", "OUT"), "--k must be an integer >= 1, got 0"),
        (("--k", "three", "--min-length", "1", "IN", "OUT"), "--k must be an integer >= 1, got 'three'"),
        (("--k", "3", "--min-length", "-5", "IN", "OUT"), "--min-length must be an integer >= 0, got '-5'"),
        (("--k", "3", "--min-length", "1.5", "IN", "OUT"), "--min-length must be an integer >= 0, got '1.5'"),
        (("--k", "3", "--k", "4", "--min-length", "1", "IN", "OUT"), "option --k given more than once"),
        (("--k", "3", "--min-length", "1", "--name-prefix", "../x", "IN", "OUT"), "--name-prefix may only"),
        (("--k", "3", "--min-length", "1", "IN"), "expected IN_DIR and OUT_DIR, got 1 positional"),
        (("--k", "3", "--min-length", "1", "IN", "OUT", "MORE"), "MORE (expected IN_DIR OUT_DIR)"),
        (("--kmer", "3"), "unknown option: --kmer"),
        (("--k",), "option --k needs a value"),
        (("--k", "9999999999", "--min-length", "1", "IN", "OUT"), "--k is too large"),
    ],
)
def test_bad_options_exit_2(
    run_pipeline: PipelineRunner, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    resolved = [str(tmp_path / a) if a in ("IN", "OUT", "MORE") else a for a in args]
    (tmp_path / "IN").mkdir()
    proc = run_pipeline(*resolved)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Try 'gc-content.sh --help'" in proc.stderr
    assert not (tmp_path / "OUT").exists()


def test_missing_input_dir_exit_1(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    proc = run_pipeline("--k", "3", "--min-length", "1", tmp_path / "nope", tmp_path / "out")
    assert proc.returncode == 1
    assert proc.stderr == f"gc-content.sh: error: input directory not found: {tmp_path / 'nope'}\n"
    assert not (tmp_path / "out").exists()


def test_no_fasta_files_exit_1(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "reads.txt").write_text(">x\nACGT\n")
    proc = run_pipeline("--k", "3", "--min-length", "1", tmp_path / "in", tmp_path / "out")
    assert proc.returncode == 1
    assert "no *.fa, *.fasta or *.fna files in" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_and_version(run_pipeline: PipelineRunner) -> None:
    help_proc = run_pipeline("--help")
    assert help_proc.returncode == 0
    assert help_proc.stdout.startswith(
        "Usage: gc-content.sh --k K --min-length N [--name-prefix P] IN_DIR OUT_DIR\n"
    )
    version = run_pipeline("--version")
    assert (version.returncode, version.stdout) == (0, "gc-content.sh 1.0.0\n")


def test_name_prefix(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    proc = run_pipeline("--k", "2", "--min-length", "0", "--name-prefix", "run1.", DATA_DIR, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1.gc.tsv", "run1.kmers.tsv"]


# -- FASTA edge cases ------------------------------------------------------------------------


def test_fasta_edge_cases(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    """CRLF, lower case, blank lines, N, descriptions, file order and ignored extensions."""
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    (in_dir / "b.fa").write_bytes(b">s1 first record\r\nacgtNN\r\nGG CC\r\n\r\n>s2\nAT\n")
    (in_dir / "B.fna").write_bytes(b">upper\nGGGG\n")
    (in_dir / "a.fasta").write_bytes(b">short\nAC\n>empty\n")
    (in_dir / "c.txt").write_bytes(b">ignored\nGGGGGGGG\n")
    (in_dir / "d.fa").mkdir()  # a directory with a FASTA name is not an input
    proc = run_pipeline("--k", "2", "--min-length", "0", in_dir, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "gc.tsv").read_text() == (
        "file\tid\tlength\tgc_fraction\n"
        "B.fna\tupper\t4\t1.000000\n"
        "a.fasta\tshort\t2\t0.500000\n"
        "a.fasta\tempty\t0\t0.000000\n"
        "b.fa\ts1\t10\t0.750000\n"
        "b.fa\ts2\t2\t0.000000\n"
    )
    assert (tmp_path / "out" / "kmers.tsv").read_text() == (
        "kmer\tcount\nGG\t4\nAC\t2\nAT\t1\nCC\t1\nCG\t1\nGC\t1\nGT\t1\n"
    )
    proc = run_pipeline("--k", "3", "--min-length", "4", in_dir, tmp_path / "out3")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out3" / "gc.tsv").read_text().splitlines()[1:] == [
        "B.fna\tupper\t4\t1.000000",
        "b.fa\ts1\t10\t0.750000",
    ]
    assert (tmp_path / "out3" / "kmers.tsv").read_text() == (
        "kmer\tcount\nGGG\t2\nACG\t1\nCGT\t1\nGCC\t1\nGGC\t1\n"
    )


def test_k_longer_than_every_sequence(run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    proc = run_pipeline("--k", "500", "--min-length", "0", DATA_DIR, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "kmers.tsv").read_text() == "kmer\tcount\n"
    assert len((tmp_path / "gc.tsv").read_text().splitlines()) == 14


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ACGT\n>s1\nACGT\n", "sequence data before the first header in bad.fa line 1"),
        (b">s1\nACGT\n>\nACGT\n", "empty sequence identifier in bad.fa line 3"),
    ],
)
def test_malformed_fasta_exit_1(
    run_pipeline: PipelineRunner, tmp_path: Path, content: bytes, message: str
) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    (in_dir / "bad.fa").write_bytes(content)
    out = tmp_path / "out"
    proc = run_pipeline("--k", "2", "--min-length", "0", in_dir, out)
    assert proc.returncode == 1
    assert f"gc-content.sh: error: {message}" in proc.stderr
    assert list(out.iterdir()) == []  # temporaries removed, nothing half-written


def test_script_is_posix_sh(tmp_path: Path) -> None:
    """dash -n (syntax) and a shebang of /bin/sh: no bashisms sneak in."""
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")
    assert os.access(SCRIPT, os.X_OK)
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("dash not installed")
    proc = subprocess.run([dash, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
