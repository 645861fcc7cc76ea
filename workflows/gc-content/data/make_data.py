"""Generate the small, deterministic FASTA dataset used by the gc-content example workflow.

The committed files in this directory were produced by ``python make_data.py`` and must not
be edited by hand; ``tests/workflows`` regenerates them into a temporary directory and checks
that they are byte-identical, so any change here is caught.

What the data exercises (all on purpose):

* three files, one per accepted extension (``.fa``, ``.fasta``, ``.fna``), 13 sequences of
  50-400 bp with GC targets from 0.25 to 0.70;
* multi-line records wrapped at 60, 70 and 80 columns, plus one single-line record;
* headers with descriptions after the identifier (only the first word is the id);
* soft-masked (lower-case) stretches, which the pipeline upper-cases;
* a few ``N`` runs and one IUPAC code (``R``), which count in the length, not in the GC
  fraction, and break k-mers;
* sequences both below and above a typical ``--min-length 100`` threshold.

Only the standard library is used; ``random.Random(SEED)`` with ``random()``/``choices`` is
stable across CPython versions, so the output does not depend on the interpreter.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20240601


@dataclass(frozen=True)
class SeqSpec:
    """Recipe for one synthetic sequence."""

    seq_id: str
    description: str
    length: int
    gc_target: float
    soft_mask: bool = False
    n_run: int = 0
    iupac: bool = False


@dataclass(frozen=True)
class FileSpec:
    """Recipe for one FASTA file."""

    name: str
    width: int  # line width; 0 writes each sequence on one line
    sequences: tuple[SeqSpec, ...]


FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "sample_a.fa",
        60,
        (
            SeqSpec("chrA_frag1", "synthetic fragment, balanced", 240, 0.50),
            SeqSpec("chrA_frag2", "synthetic fragment, GC rich", 180, 0.68, soft_mask=True),
            SeqSpec("chrA_frag3", "short, below min-length 100", 64, 0.45),
            SeqSpec("chrA_frag4", "AT rich with an N gap", 320, 0.30, n_run=7),
        ),
    ),
    FileSpec(
        "sample_b.fasta",
        70,
        (
            SeqSpec("plasmid_p1", "origin region", 400, 0.55),
            SeqSpec("plasmid_p2", "resistance cassette", 150, 0.62, iupac=True),
            SeqSpec("plasmid_p3", "short linker", 50, 0.40),
            SeqSpec("plasmid_p4", "soft-masked repeat", 210, 0.35, soft_mask=True),
            SeqSpec("plasmid_p5", "mixed", 99, 0.52),
        ),
    ),
    FileSpec(
        "sample_c.fna",
        80,
        (
            SeqSpec("contig_001", "assembly contig", 360, 0.70),
            SeqSpec("contig_002", "assembly contig with gap", 275, 0.25, n_run=12),
            SeqSpec("contig_003", "single-line record", 100, 0.48),
            SeqSpec("contig_004", "assembly contig", 133, 0.58, soft_mask=True),
        ),
    ),
)


def make_sequence(rng: random.Random, spec: SeqSpec) -> str:
    """Draw one sequence with roughly ``spec.gc_target`` G+C, then apply its decorations."""
    at = (1.0 - spec.gc_target) / 2
    gc = spec.gc_target / 2
    bases = rng.choices("ACGT", weights=(at, gc, gc, at), k=spec.length)
    if spec.n_run:
        start = rng.randrange(10, spec.length - spec.n_run - 10)
        bases[start : start + spec.n_run] = ["N"] * spec.n_run
    if spec.iupac:
        bases[rng.randrange(5, spec.length - 5)] = "R"
    seq = "".join(bases)
    if spec.soft_mask:
        start = rng.randrange(0, spec.length // 2)
        end = start + rng.randrange(20, spec.length // 2)
        seq = seq[:start] + seq[start:end].lower() + seq[end:]
    return seq


def render_file(rng: random.Random, spec: FileSpec) -> str:
    """Render one FASTA file as text (``\\n`` line endings, trailing newline)."""
    lines: list[str] = []
    for seq_spec in spec.sequences:
        seq = make_sequence(rng, seq_spec)
        lines.append(f">{seq_spec.seq_id} {seq_spec.description}")
        width = 0 if seq_spec.seq_id == "contig_003" else spec.width
        if width:
            lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
        else:
            lines.append(seq)
    return "\n".join(lines) + "\n"


def write_dataset(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write every file of the dataset into ``out_dir``; return the paths in write order."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in FILES:
        path = out_dir / spec.name
        path.write_bytes(render_file(rng, spec).encode("ascii"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output directory (default: the directory of this script)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    for path in write_dataset(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
