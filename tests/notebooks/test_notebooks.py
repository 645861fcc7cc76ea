"""The notebooks in ``notebooks/`` execute without error against a live registry (nbclient, the
virtualenv's ``python3`` kernel) and show the expected digests and parameter values (issue:
"the three notebooks execute without error in CI and their outputs contain the expected digests
and parameter values").

The registry runs with authentication on; the kernel gets ``SCIREGISTRY_USERNAME`` and
``SCIREGISTRY_PASSWORD`` like a user's shell would. The data are prepared with the Python client
exactly as a lab's CI would: the gc-content image (built from ``workflows/``), the sample reads, two
runs of the pipeline with k=3 and k=4 (outputs computed here on the host), a DOI for the k=3 run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from cli_commands import clean_env, root_conftest, sciregistry_cli
from nbclient import NotebookClient

from sciregistry.cli.demo import COMMAND_TEMPLATE, DATASET_FILES, find_workflows, load_builder, run_pipeline
from sciregistry.client import Registry

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
USER, PASSWORD = "ada", "notebook-pass-123"


@dataclass
class Published:
    url: str
    host: str
    env: dict[str, str]
    image_digest: str
    reads_digest: str
    results: dict[int, str]  # k -> result digest
    outputs: dict[int, dict[str, str]]  # k -> {path: sha256}
    doi: str


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    if not Path("/bin/busybox").is_file():
        pytest.skip("/bin/busybox not installed (apt-get install busybox-static)")
    tmp = tmp_path_factory.mktemp("notebooks")
    data_dir = tmp / "data"
    server = root_conftest().start_server(data_dir, env={"SCIREGISTRY_AUTH_ENABLED": "true"})
    try:
        sciregistry_cli("user", "add", USER, "--password-stdin", data_dir=data_dir, input=PASSWORD + "\n")
        wf = find_workflows(str(ROOT / "workflows"))
        with Registry(
            server.url, username=USER, password=PASSWORD, use_stored_credentials=False, progress=False
        ) as reg:
            layout = tmp / "oci"
            load_builder(wf).build_image(layout, "1.0.0", "/bin/busybox")
            image_digest = reg.push_layout(layout, f"{USER}/gc-content:1.0.0")
            image = reg.reference(f"{USER}/gc-content", digest=image_digest)
            files = [wf / "gc-content" / "data" / n for n in DATASET_FILES]
            reads_digest = reg.push_dataset(f"{USER}/reads:v1", files)
            reads = reg.reference(f"{USER}/reads", digest=reads_digest)
            in_dir = tmp / "in"
            in_dir.mkdir()
            for f in files:
                (in_dir / f.name).write_bytes(f.read_bytes())
            results, outputs = {}, {}
            for k in (3, 4):  # k=4 is recorded last: the newest run
                params = {"k": k, "min_length": 100, "label": f"k{k}"}
                outs = run_pipeline(wf, in_dir, tmp / f"out-k{k}", params)
                rec = reg.record_run(
                    image,
                    {"reads": reads},
                    params,
                    COMMAND_TEMPLATE,
                    outs,
                    f"{USER}/gc-results:k{k}",
                    agent="Ada Lovelace",
                    name=f"GC content, k={k}",
                )
                results[k] = rec.result_digest
                outputs[k] = {p.name: sha256_file(p) for p in outs}
            doi = reg.transport.request(
                "POST",
                "/api/v1/dois",
                json={
                    "reference": f"{USER}/gc-results@{results[3]}",
                    "title": "GC content of the sample reads",
                    "creators": [{"given_name": "Ada", "family_name": "Lovelace"}],
                },
            ).json()["doi"]
        env = clean_env(
            SCIREGISTRY_URL=server.url,
            SCIREGISTRY_USERNAME=USER,
            SCIREGISTRY_PASSWORD=PASSWORD,
            SCIREGISTRY_CONFIG_HOME=str(tmp / "config"),
            MPLCONFIGDIR=str(tmp / "mpl"),
        )
        yield Published(server.url, server.host, env, image_digest, reads_digest, results, outputs, doi)
    finally:
        server.stop()


def execute(name: str, env: dict[str, str], cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(cwd)}}
    ).execute(env=env)
    return nb


def texts(nb: nbformat.NotebookNode) -> tuple[str, str, list[dict[str, Any]]]:
    """(all plain text, all HTML, every output) of the executed notebook."""
    plain, html, outputs = [], [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            outputs.append(out)
            if out.get("output_type") == "stream":
                plain.append(out["text"])
            data = out.get("data") or {}
            if "text/plain" in data:
                plain.append(data["text/plain"])
            if "text/html" in data:
                html.append(data["text/html"])
    return "\n".join(plain), "\n".join(html), outputs


def test_committed_notebooks_are_generated_and_cleared() -> None:
    proc = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code), path.name
    assert [p.name for p in sorted(NOTEBOOKS.glob("*.ipynb"))] == [
        "01-resolve-a-doi.ipynb",
        "02-compare-runs.ipynb",
        "03-push-and-record.ipynb",
    ]


def test_the_kernel_is_the_virtualenv_python(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys, sciregistry; print(sys.prefix)")]
    )
    NotebookClient(nb, kernel_name="python3", timeout=60).execute(env=clean_env())
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.slow
def test_01_resolve_a_doi(published: Published, tmp_path: Path) -> None:
    nb = execute("01-resolve-a-doi.ipynb", {**published.env, "SCIREGISTRY_DOI": published.doi}, tmp_path)
    plain, html, outputs = texts(nb)
    assert f"image digest: {published.image_digest}" in plain
    assert f"image:        {published.host}/{USER}/gc-content@{published.image_digest}" in plain
    assert "parameter    k = 3" in plain
    assert "parameter    min_length = 100" in plain
    assert "parameter    label = 'k3'" in plain
    assert f"input        reads: {published.host}/{USER}/reads@{published.reads_digest}" in plain
    assert "command:      gc-content.sh --k 3 --min-length 100 /in/reads /out" in plain
    assert f"result:       {published.host}/{USER}/gc-results@{published.results[3]}" in plain
    assert "crate agrees with the DOI record: True" in plain
    for path, sha in published.outputs[3].items():  # downloaded bytes hash to the recorded sha256
        assert re.search(rf"{re.escape(path)}: \d+ bytes, sha256:{sha} \(recorded sha256:{sha}\)", plain), (
            path
        )
    assert "10 sequences, 64 distinct k-mers" in plain
    assert published.doi in html and "<table" in html  # Resolution._repr_html_
    assert any("image/png" in (o.get("data") or {}) for o in outputs)
    assert not [o for o in outputs if o.get("output_type") == "error"]


@pytest.mark.slow
def test_02_compare_runs(published: Published, tmp_path: Path) -> None:
    env = {**published.env, "SCIREGISTRY_REPOSITORY": f"{USER}/gc-results"}
    nb = execute("02-compare-runs.ipynb", env, tmp_path)
    plain, html, outputs = texts(nb)
    assert f"image: {published.image_digest} (same in both runs)" in plain
    assert "k: 3 -> 4  [DIFFERS]" in plain
    assert "min_length: 100 -> 100  [same]" in plain
    assert "label: 'k3' -> 'k4'  [DIFFERS]" in plain
    assert "parameters that differ: k, label" in plain
    assert "inputs: identical" in plain
    gc3, gc4 = published.outputs[3]["gc.tsv"], published.outputs[4]["gc.tsv"]
    assert gc3 == gc4
    assert f"gc.tsv: identical  A sha256:{gc3}  B sha256:{gc4}" in plain
    k3, k4 = published.outputs[3]["kmers.tsv"], published.outputs[4]["kmers.tsv"]
    assert f"kmers.tsv: different  A sha256:{k3}  B sha256:{k4}" in plain
    assert "k-mers: 64 distinct in A (k=3), 256 distinct in B (k=4)" in plain
    assert "sequences only in A: none | only in B: none" in plain
    assert published.results[3] in html and published.results[4] in html  # Run._repr_html_
    assert any("image/png" in (o.get("data") or {}) for o in outputs)


@pytest.mark.slow
def test_02_compare_runs_by_reference(published: Published, tmp_path: Path) -> None:
    env = {
        **published.env,
        "SCIREGISTRY_RUN_A": f"{published.host}/{USER}/gc-results:k4",
        "SCIREGISTRY_RUN_B": f"{published.host}/{USER}/gc-results@{published.results[3]}",
    }
    plain, _, _ = texts(execute("02-compare-runs.ipynb", env, tmp_path))
    assert "k: 4 -> 3  [DIFFERS]" in plain
    assert "k-mers: 256 distinct in A (k=4), 64 distinct in B (k=3)" in plain


@pytest.mark.slow
def test_03_push_and_record(published: Published, tmp_path: Path) -> None:
    image = f"{published.host}/{USER}/gc-content@{published.image_digest}"
    env = {**published.env, "SCIREGISTRY_IMAGE": image, "SCIREGISTRY_WORKFLOWS": str(ROOT / "workflows")}
    nb = execute("03-push-and-record.ipynb", env, tmp_path)
    plain, html, _ = texts(nb)
    assert f"namespace: {USER}" in plain
    m = re.search(r"dataset: (\S+)@(sha256:[0-9a-f]{64})", plain)
    assert m and m.group(1) == f"{published.host}/{USER}/notebook-reads"
    dataset_digest = m.group(2)
    assert "ran: gc-content.sh --k 2 --min-length 50 /in/reads /out" in plain
    assert 'recorded parameters: {"k": 2, "label": "notebook", "min_length": 50}' in plain
    assert f"recorded image:      {published.image_digest}" in plain
    assert f"recorded input:      ['{dataset_digest}']" in plain
    result = re.search(r"result: (sha256:[0-9a-f]{64})", plain)
    assert result
    # the run is really in the registry, as the notebook said
    with Registry(published.url, username=USER, password=PASSWORD, use_stored_credentials=False) as reg:
        run = reg.run_for(f"{USER}/notebook-results:k2")
        assert run is not None
        assert run.result_digest == result.group(1)
        assert run.parameters == {"k": 2, "min_length": 50, "label": "notebook"}
        assert [i.digest for i in run.inputs] == [dataset_digest]
        assert run.image.digest == published.image_digest
        # the dataset is the one the fixed seed always makes
        again = reg.resolve_digest(f"{USER}/notebook-reads:v1")
        assert again == dataset_digest
    assert result.group(1) in html
    # notebook 3 run twice gives the same dataset digest (fixed seed)
    nb2 = execute("03-push-and-record.ipynb", env, tmp_path)
    assert f"@{dataset_digest}" in texts(nb2)[0]
    json.dumps(nb.cells[-1].outputs)  # outputs are plain JSON (savable)


# --- issue 16: as a newcomer runs them (logged in with `sciregistry login`, the docs' recipe) -----------


def _logged_in_env(published: Published, tmp_path: Path) -> dict[str, str]:
    """The kernel's environment of a user who ran ``sciregistry login`` (no SCIREGISTRY_USERNAME or
    SCIREGISTRY_PASSWORD): the credentials come from the login file only."""
    env = {
        k: v for k, v in published.env.items() if k not in ("SCIREGISTRY_USERNAME", "SCIREGISTRY_PASSWORD")
    }
    env["SCIREGISTRY_CONFIG_HOME"] = str(tmp_path / "login")
    sciregistry_cli(
        "login", published.host, "--username", USER, "--password-stdin", input=PASSWORD + "\n", env=env
    )
    return env


@pytest.mark.slow
def test_03_pushes_to_the_logged_in_users_namespace(published: Published, tmp_path: Path) -> None:
    """Notebook 03 after ``sciregistry login`` only: the namespace is the login user's (it used to be
    'demo', and the push was denied)."""
    env = {
        **_logged_in_env(published, tmp_path),
        "SCIREGISTRY_WORKFLOWS": str(ROOT / "workflows"),
        "SCIREGISTRY_IMAGE": f"{published.host}/{USER}/gc-content@{published.image_digest}",
    }
    nb = execute("03-push-and-record.ipynb", env, tmp_path)
    plain, _, outputs = texts(nb)
    assert f"namespace: {USER}" in plain
    assert re.search(
        rf"dataset: {re.escape(published.host)}/{USER}/notebook-reads@sha256:[0-9a-f]{{64}}", plain
    )
    assert not [o for o in outputs if o.get("output_type") == "error"]


@pytest.mark.slow
def test_02_compares_exactly_the_runs_the_docs_recipe_names(published: Published, tmp_path: Path) -> None:
    """docs/notebooks.md's command (run1 vs run2), even when a newer run of the same image exists."""
    text = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?jupyter lab notebooks/.*?)```", text, re.DOTALL)
    assert block, "docs/notebooks.md no longer shows the jupyter command"
    command = block.group(1).replace("\\\n", " ")
    assigned = dict(re.findall(r"(SCIREGISTRY_[A-Z_]+)=(\S+)", command))
    repo = f"{USER}/doc-results"
    with Registry(
        published.url, username=USER, password=PASSWORD, use_stored_credentials=False, progress=False
    ) as reg:
        image = reg.reference(f"{USER}/gc-content", digest=published.image_digest)
        reads = reg.reference(f"{USER}/reads", digest=published.reads_digest)
        wf = find_workflows(str(ROOT / "workflows"))
        in_dir = tmp_path / "in"
        in_dir.mkdir()
        for name in DATASET_FILES:
            (in_dir / name).write_bytes((wf / "gc-content" / "data" / name).read_bytes())
        for tag, k in (("run1", 3), ("run2", 4), ("run3", 5)):  # run3: the newest, same image
            params = {"k": k, "min_length": 100}
            outs = run_pipeline(wf, in_dir, tmp_path / tag, params)
            reg.record_run(
                image, {"reads": reads}, params, COMMAND_TEMPLATE, outs, f"{repo}:{tag}", agent="Ada"
            )
    env = dict(published.env)
    for key, value in assigned.items():
        if key.startswith("SCIREGISTRY_RUN") or key == "SCIREGISTRY_REPOSITORY":
            env[key] = value.replace("127.0.0.1:5000", published.host).replace("alice/gc-results", repo)
    assert "SCIREGISTRY_RUN_A" in env or "SCIREGISTRY_REPOSITORY" in env
    plain, _, _ = texts(execute("02-compare-runs.ipynb", env, tmp_path))
    assert "k: 3 -> 4  [DIFFERS]" in plain, plain  # run1 and run2, not the two newest (run2, run3)
    assert re.search(
        rf"run A: {re.escape(published.host)}/{repo}@sha256:[0-9a-f]{{64}} \(run \d+, given as "
        rf"{re.escape(published.host)}/{repo}:run1\)",
        plain,
    ), plain


@pytest.mark.slow
def test_transfers_show_a_progress_bar_in_a_kernel(published: Published, tmp_path: Path) -> None:
    """In Jupyter stderr is not a terminal, yet a push over a few MiB shows a bar (issue 16, item 1);
    a small one shows none."""
    big = tmp_path / "big"
    big.mkdir()
    (big / "reads.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    small = tmp_path / "small"
    small.mkdir()
    (small / "tiny.txt").write_bytes(b"tiny\n")
    code = (
        "import os\nfrom sciregistry.client import Registry\n"
        "reg = Registry(os.environ['SCIREGISTRY_URL'])\n"
        f"print('pushed', reg.push_dataset('{USER}/progress-big:v1', [{str(big)!r}]))"
    )
    small_code = code.replace("progress-big", "progress-small").replace(repr(str(big)), repr(str(small)))
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(small_code)]
    )
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(env=_logged_in_env(published, tmp_path))
    big_out, small_out = (list(cell.outputs) for cell in nb.cells)

    def shown(outputs: list[Any]) -> str:
        parts = [
            o.get("text", "")
            for o in outputs
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        ]
        parts += [json.dumps(o.get("data") or {}) for o in outputs if o.get("output_type") == "display_data"]
        return "\n".join(parts)

    assert re.search(r"push .*progress-big.*100%|application/vnd\.jupyter\.widget-view", shown(big_out)), (
        big_out
    )
    assert "100%" not in shown(small_out) and "widget" not in shown(small_out), small_out
    assert any("pushed sha256:" in o.get("text", "") for o in big_out)
