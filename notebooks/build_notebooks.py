"""Write the sciregistry notebooks (nbformat 4, outputs cleared) from the cell sources below.

    python notebooks/build_notebooks.py            # (re)write notebooks/*.ipynb
    python notebooks/build_notebooks.py --check    # exit 1 if a committed notebook differs

The notebooks are data, generated here so that they stay reviewable as Python and identical on
every machine (cell ids are derived from the notebook name and cell index). Each one talks to the
registry named by ``SCIREGISTRY_URL`` (default ``http://127.0.0.1:5000``, the one ``make run``
starts) with the credentials of ``sciregistry login`` or ``SCIREGISTRY_USERNAME`` +
``SCIREGISTRY_PASSWORD`` / ``SCIREGISTRY_TOKEN``:

* ``01-resolve-a-doi.ipynb``: ``SCIREGISTRY_DOI`` -> image digest, parameters, provenance, outputs
  downloaded (verified) and plotted;
* ``02-compare-runs.ipynb``: two runs of one pipeline (``SCIREGISTRY_RUN_A``/``SCIREGISTRY_RUN_B``
  result references, else the two newest runs in ``SCIREGISTRY_REPOSITORY`` with the same image):
  which parameters differ, which outputs differ and how;
* ``03-push-and-record.ipynb``: push a dataset, run the gc-content pipeline, record the run
  (image ``SCIREGISTRY_IMAGE`` = ``host/repo@sha256:...``, else built from ``workflows/`` and pushed)
  in the namespace ``SCIREGISTRY_NAMESPACE``, else the logged-in user's.

``tests/notebooks/test_notebooks.py`` executes all three with nbclient against a live server.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
import os
from sciregistry.client import Registry

REGISTRY_URL = os.environ.get("SCIREGISTRY_URL", "http://127.0.0.1:5000")
reg = Registry(REGISTRY_URL)  # progress bars for transfers over a few MiB; credentials of `sciregistry login`
reg'''

NB1 = [
    ("md", """\
# Resolve a DOI

A DOI minted by sciregistry pins a result and everything it depends on: the pipeline image (by
manifest digest), the input datasets (by digest), the parameters and the run crate. This notebook
starts from a DOI only, shows what produced the result, checks the run crate, downloads the
outputs (each verified against its recorded sha256) and plots them.

Set `SCIREGISTRY_URL` and `SCIREGISTRY_DOI` (for example the DOI printed by `make demo`)."""),
    ("code", SETUP),
    ("code", '''\
DOI = os.environ.get("SCIREGISTRY_DOI")
assert DOI, "set SCIREGISTRY_DOI to a DOI of this registry (make demo prints one)"
res = reg.resolve(DOI)
res  # rich display in Jupyter (_repr_html_)'''),
    ("md", "## What produced the result"),
    ("code", '''\
print("DOI:         ", res.doi)
print("title:       ", res.title)
print("result:      ", res.result_reference)
print("image:       ", res.image.reference)
print("image digest:", res.image.digest)
print("command:     ", res.rendered_command)
for name, value in res.parameters.items():
    print(f"parameter    {name} = {value!r}")
for inp in res.inputs:
    print(f"input        {inp.name}: {inp.reference}")'''),
    ("md", "The provenance graph, as the registry indexed it from the run crate (recursively through inputs):"),
    ("code", '''\
lineage = reg.lineage(res.result_reference)
lineage'''),
    ("code", '''\
check = res.crate
print("run crate:", check.digest)
print("crate agrees with the DOI record:", check.verified)
for problem in check.problems:
    print("  problem:", problem)'''),
    ("md", "## Download and plot the outputs"),
    ("code", '''\
import hashlib
import tempfile
from pathlib import Path

out_dir = Path(tempfile.mkdtemp(prefix="sciregistry-doi-"))
files = res.download(out_dir)
for f in res.outputs:
    data = (out_dir / f.path).read_bytes()
    print(f"{f.path}: {len(data)} bytes, sha256:{hashlib.sha256(data).hexdigest()} (recorded sha256:{f.sha256})")'''),
    ("code", '''\
import csv

def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh, delimiter="\\t"))

gc_rows = [r for r in read_tsv(out_dir / "gc.tsv") if r and r[0] != "file"]
kmer_rows = [r for r in read_tsv(out_dir / "kmers.tsv") if r and r[0] != "kmer"]
print(len(gc_rows), "sequences,", len(kmer_rows), "distinct k-mers")
print("highest GC fraction:", max(gc_rows, key=lambda r: float(r[3])))'''),
    ("code", '''\
%matplotlib inline
import matplotlib.pyplot as plt

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
left.bar([r[1] for r in gc_rows], [float(r[3]) for r in gc_rows], color="tab:green")
left.set_ylabel("GC fraction")
left.set_title("GC content per sequence")
left.tick_params(axis="x", labelrotation=90)
top = kmer_rows[:12]
right.bar([r[0] for r in top], [int(r[1]) for r in top])
right.set_title(f"most frequent {res.parameters.get('k')}-mers")
right.tick_params(axis="x", labelrotation=90)
fig.tight_layout()
fig.savefig(out_dir / "outputs.png")'''),
]

NB2 = [
    ("md", """\
# Compare two runs of the same pipeline

Two runs of one image with different parameters: which parameters differ, and how the outputs
differ. Give the two results as `SCIREGISTRY_RUN_A` and `SCIREGISTRY_RUN_B`
(`host/repo@sha256:...` or `host/repo:tag`, e.g. `...:run1` and `...:run2`), or give only
`SCIREGISTRY_REPOSITORY` and the two newest runs there that used the same image are compared.
The next cell prints which two it compares."""),
    ("code", SETUP),
    ("code", '''\
def pick_runs():
    a, b = os.environ.get("SCIREGISTRY_RUN_A"), os.environ.get("SCIREGISTRY_RUN_B")
    if a and b:
        return reg.run_for(a), reg.run_for(b)
    repository = os.environ.get("SCIREGISTRY_REPOSITORY")
    assert repository, "set SCIREGISTRY_RUN_A and SCIREGISTRY_RUN_B, or SCIREGISTRY_REPOSITORY"
    runs = list(reg.runs(repository=repository, limit=100))
    for newer in runs:
        same_image = [r for r in runs if r.image.digest == newer.image.digest and r.id != newer.id]
        if same_image:
            return same_image[0], newer  # older first
    raise LookupError(f"no two runs of one image in {repository}")

run_a, run_b = pick_runs()
assert run_a is not None and run_b is not None, "no run is recorded for one of the results"
for label, run, given in (("A", run_a, os.environ.get("SCIREGISTRY_RUN_A")),
                          ("B", run_b, os.environ.get("SCIREGISTRY_RUN_B"))):
    print(f"run {label}: {reg.host}/{run.repository}@{run.result_digest} (run {run.id}"
          + (f", given as {given})" if given else ", newest of one image)"))
run_a'''),
    ("code", "run_b"),
    ("md", "## Parameters"),
    ("code", '''\
same_image = run_a.image.digest == run_b.image.digest
print("image:", run_a.image.digest, "(same in both runs)" if same_image else f"vs {run_b.image.digest}")
names = sorted(set(run_a.parameters) | set(run_b.parameters))
differ = [n for n in names if run_a.parameters.get(n) != run_b.parameters.get(n)]
for n in names:
    mark = "DIFFERS" if n in differ else "same"
    print(f"{n}: {run_a.parameters.get(n)!r} -> {run_b.parameters.get(n)!r}  [{mark}]")
print("parameters that differ:", ", ".join(differ) or "none")
inputs_a = {i.name: i.digest for i in run_a.inputs}
inputs_b = {i.name: i.digest for i in run_b.inputs}
print("inputs:", "identical" if inputs_a == inputs_b else f"{inputs_a} vs {inputs_b}")'''),
    ("md", "## Outputs"),
    ("code", '''\
from IPython.display import HTML, display

outs_a = {o.path: o for o in run_a.outputs}
outs_b = {o.path: o for o in run_b.outputs}
rows = []
for path in sorted(set(outs_a) | set(outs_b)):
    a, b = outs_a.get(path), outs_b.get(path)
    status = "identical" if a and b and a.sha256 == b.sha256 else "different"
    print(f"{path}: {status}  A sha256:{a.sha256 if a else '-'}  B sha256:{b.sha256 if b else '-'}")
    rows.append(f"<tr><td><code>{path}</code></td><td>{status}</td>"
                f"<td><code>{a.sha256[:12] if a else '-'}</code> ({a.size if a else 0} B)</td>"
                f"<td><code>{b.sha256[:12] if b else '-'}</code> ({b.size if b else 0} B)</td></tr>")
display(HTML("<table><tr><th>output</th><th>status</th><th>run A</th><th>run B</th></tr>" + "".join(rows) + "</table>"))'''),
    ("code", '''\
import csv
import tempfile
from pathlib import Path

work = Path(tempfile.mkdtemp(prefix="sciregistry-compare-"))
dir_a = reg.pull(f"{run_a.repository}@{run_a.result_digest}", work / "a").directory
dir_b = reg.pull(f"{run_b.repository}@{run_b.result_digest}", work / "b").directory

def table(path):
    with open(path, newline="") as fh:
        return [r for r in csv.reader(fh, delimiter="\\t") if r]

kmers_a, kmers_b = table(dir_a / "kmers.tsv")[1:], table(dir_b / "kmers.tsv")[1:]
gc_a, gc_b = table(dir_a / "gc.tsv")[1:], table(dir_b / "gc.tsv")[1:]
print(f"k-mers: {len(kmers_a)} distinct in A (k={run_a.parameters.get('k')}), "
      f"{len(kmers_b)} distinct in B (k={run_b.parameters.get('k')})")
print(f"sequences kept: {len(gc_a)} in A, {len(gc_b)} in B")
only_a = sorted({r[1] for r in gc_a} - {r[1] for r in gc_b})
only_b = sorted({r[1] for r in gc_b} - {r[1] for r in gc_a})
print("sequences only in A:", only_a or "none", "| only in B:", only_b or "none")'''),
    ("code", '''\
%matplotlib inline
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=False)
for ax, run, kmers in ((axes[0], run_a, kmers_a), (axes[1], run_b, kmers_b)):
    counts = sorted((int(r[1]) for r in kmers), reverse=True)
    ax.plot(range(1, len(counts) + 1), counts, marker=".")
    ax.set_xscale("log")
    ax.set_xlabel("rank")
    ax.set_ylabel("count")
    ax.set_title(f"k-mer counts, k={run.parameters.get('k')}, min_length={run.parameters.get('min_length')}")
fig.tight_layout()'''),
]

NB3 = [
    ("md", """\
# Push a dataset and record a run

From a notebook: write a small dataset, push it, run the gc-content pipeline on it, and record
the run (outputs as a result, plus a Workflow Run Crate that pins the image and the dataset by
digest). Repositories go in the namespace `SCIREGISTRY_NAMESPACE` (default: the user you logged in
as with `sciregistry login`, or `SCIREGISTRY_USERNAME`). The
image is `SCIREGISTRY_IMAGE` (`host/repo@sha256:...`) when set, else it is built from the
`workflows/` directory of a sciregistry checkout (or `SCIREGISTRY_WORKFLOWS`) and pushed."""),
    ("code", SETUP),
    ("code", '''\
from sciregistry.cli.demo import COMMAND_TEMPLATE, find_workflows, load_builder, run_pipeline

NAMESPACE = os.environ.get("SCIREGISTRY_NAMESPACE") or reg.username  # the login user, as for the CLI
assert NAMESPACE, (f"no user: log in first (sciregistry login {reg.host}) or set SCIREGISTRY_NAMESPACE "
                   "to a namespace you may push to")
WORKFLOWS = find_workflows(os.environ.get("SCIREGISTRY_WORKFLOWS"))
print("namespace:", NAMESPACE)
print("pipeline: ", WORKFLOWS / "gc-content")'''),
    ("md", "## A dataset"),
    ("code", '''\
import random
import tempfile
from pathlib import Path

work = Path(tempfile.mkdtemp(prefix="sciregistry-notebook-"))
reads = work / "reads"
reads.mkdir()
rng = random.Random(42)  # fixed seed: the same files, the same dataset digest, every time
for sample in ("north", "south"):
    with open(reads / f"{sample}.fa", "w") as fh:
        for i in range(3):
            fh.write(f">{sample}_{i}\\n" + "".join(rng.choice("ACGT") for _ in range(150)) + "\\n")
sorted(p.name for p in reads.iterdir())'''),
    ("code", '''\
dataset_digest = reg.push_dataset(f"{NAMESPACE}/notebook-reads:v1", [reads],
                                  {"org.opencontainers.image.title": "two small samples"})
dataset_ref = reg.reference(f"{NAMESPACE}/notebook-reads", digest=dataset_digest)
print("dataset:", dataset_ref)'''),
    ("md", "## The image"),
    ("code", '''\
IMAGE = os.environ.get("SCIREGISTRY_IMAGE")
if not IMAGE:
    layout = work / "gc-content-oci"
    load_builder(WORKFLOWS).build_image(layout, "1.0.0", "/bin/busybox")
    image_digest = reg.push_layout(layout, f"{NAMESPACE}/gc-content:1.0.0")
    IMAGE = reg.reference(f"{NAMESPACE}/gc-content", digest=image_digest)
print("image:", IMAGE)'''),
    ("md", "## Run the pipeline and record the run"),
    ("code", '''\
params = {"k": 2, "min_length": 50, "label": "notebook"}
outputs = run_pipeline(WORKFLOWS, reads, work / "out", params)
print("ran:", COMMAND_TEMPLATE.format(**params))
print((work / "out" / "gc.tsv").read_text())'''),
    ("code", '''\
recorded = reg.record_run(IMAGE, {"reads": dataset_ref}, params, COMMAND_TEMPLATE, outputs,
                          f"{NAMESPACE}/notebook-results:k{params['k']}", agent="Notebook User",
                          name="GC content of two small samples", description="Recorded from a notebook.")
print("result:", recorded.result_digest)
print("crate: ", recorded.crate_digest)'''),
    ("md", "The registry validated and indexed the run crate; the run is now queryable:"),
    ("code", '''\
import json

run = reg.run_for(reg.reference(f"{NAMESPACE}/notebook-results", digest=recorded.result_digest))
print("recorded parameters:", json.dumps(run.parameters, sort_keys=True))
print("recorded image:     ", run.image.digest)
print("recorded input:     ", [i.digest for i in run.inputs])
run'''),
]

NOTEBOOKS = {"01-resolve-a-doi.ipynb": NB1, "02-compare-runs.ipynb": NB2, "03-push-and-record.ipynb": NB3}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """One notebook, outputs cleared, with stable cell ids and the venv's ``python3`` kernel."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = hashlib.sha256(f"{name}:{i}".encode()).hexdigest()[:12]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name, NOTEBOOKS[name])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed notebook is out of date")
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write (default: notebooks/)")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        text = render(name)
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(path)
    if stale:
        print("out of date (run python notebooks/build_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
