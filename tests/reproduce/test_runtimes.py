"""Runtime selection (``--runtime auto`` with nothing installed), RUN_FAILED, and finding the registry
of a DOI through a DOI resolver (a local stand-in for https://doi.org/)."""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sciregistry.cli import main
from sciregistry.cli import reproduce as _reproduce_cli
from sciregistry.client import reproduce as reproduce_mod
from sciregistry.client.reproduce import locate_registry
from sciregistry.errors import NotFound

from .conftest import Published, record


def test_auto_without_any_runtime_gives_not_run(
    published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # neither podman nor docker on PATH
    with published.registry() as reg:
        report = reg.reproduce(published.main.doi, tmp_path / "out", runtime="auto")
    assert report.verdict == "NOT_RUN"
    assert report.runtime["probes"] == [
        {"name": "podman", "ok": False, "detail": "not installed"},
        {"name": "docker", "ok": False, "detail": "not installed"},
    ]
    assert report.reason == (
        "no container runtime could run the image (podman: not installed; docker: not "
        "installed); run the suggested command by hand"
    )
    assert report.command["suggested"].startswith(
        "podman --storage-driver vfs --cgroup-manager cgroupfs "
        "--events-backend file --runtime runc run --rm --network none "
        "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v "
    )


def test_failing_command_gives_run_failed(
    published: Published, podman_reason: str | None, tmp_path: Path
) -> None:
    if podman_reason is not None:
        pytest.skip(f"podman cannot run here: {podman_reason}")
    host = published.server.host
    with published.registry() as reg:
        rec = record(
            reg,
            f"{host}/lab/gc-content@{published.image_digest}",
            f"{host}/lab/reads@{published.dataset}",
            sorted((published.data_dir.parent / "host-out").iterdir()),
            f"{host}/lab/gc-results:fails",
            "fails",
            command="gc-content.sh --k {k} --min-length {min_length} /in/nothing /out",
        )
        report = reg.reproduce(rec.doi, tmp_path / "out", runtime="podman")
    assert report.verdict == "RUN_FAILED"
    assert report.runtime["exit_code"] == 1
    assert "/in/nothing" in report.runtime["stderr_tail"]
    assert report.reason.startswith("the command exited with code 1: ")
    assert [o.status for o in report.outputs] == ["not_compared", "not_compared"]
    assert {s.name: s.status for s in report.steps}["compare"] == "skipped"
    # the command printed to run it by hand has every flag of the one that ran (issue 16, item 7): only
    # reproduce's private store (--root/--runroot/--tmpdir), the container name and the loaded image id differ
    ran = list(report.command["argv"])
    for flag in ("--root", "--runroot", "--tmpdir", "--name"):
        i = ran.index(flag)
        del ran[i : i + 2]
    hand = shlex.split(report.command["suggested"])
    image_at = hand.index(f"oci:{tmp_path / 'out'}/image:reproduce")
    assert Path(ran[0]).name == hand[0] == "podman"
    assert hand[1:image_at] == ran[1:image_at] and hand[image_at + 1 :] == ran[image_at + 1 :]
    assert "ran:" in report.summary() and report.command["suggested"] in report.summary()


# --- podman's run state under a long TMPDIR ------------------------------------------------------------


def test_podman_runroot_stays_under_podmans_limit(tmp_path: Path) -> None:
    from sciregistry.client.runtimes import PODMAN_RUNROOT_MAX, podman_runroot, remove_runroot

    short = Path("/tmp/sciregistry-0123456789ab")
    assert podman_runroot(short) == short / "run"
    remove_runroot(short, short / "run")  # inside the store: removed with it, not here

    store = tmp_path / ("scratch-of-a-cluster-job-" * 3) / "sciregistry-0123456789ab"
    run = podman_runroot(store)
    try:
        assert len(str(run)) <= PODMAN_RUNROOT_MAX < len(str(store / "run"))
        assert run.is_dir() and (run.stat().st_mode & 0o777) == 0o700
    finally:
        remove_runroot(store, run)
    assert not run.exists()


def test_cwl_environment_keeps_podmans_run_state_under_the_limit(tmp_path: Path) -> None:
    import shutil

    from sciregistry.client.cwl import CwlEnvironment

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    base = tmp_path / ("long-scratch-directory-" * 3)
    base.mkdir()
    env = CwlEnvironment(["127.0.0.1:5000"], base=base)
    try:
        assert len(str(env.runroot)) <= 50
        assert f"'--runroot' '{env.runroot}'" in (env.dir / "bin" / "podman").read_text()
        assert (env.dir / "store").is_relative_to(base)  # the image store stays where it was asked
    finally:
        env.close()
    assert not env.runroot.exists() and not env.dir.exists()


def test_reproduce_under_a_long_tmpdir(
    published: Published, podman_reason: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster job's TMPDIR is often longer than the 30 characters podman's runroot limit (50)
    leaves; the reproduction must still run, and leave nothing behind."""
    import tempfile

    if podman_reason is not None:
        pytest.skip(f"podman cannot run here: {podman_reason}")
    long_tmp = tmp_path / "scratch" / "job-0123456789" / "node-01" / "tmp"
    long_tmp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(long_tmp))
    before = set(Path("/tmp").glob("sciregistry-run-*"))
    with published.registry() as reg:
        report = reg.reproduce(published.main.doi, tmp_path / "out", runtime="podman")
    assert report.verdict == "REPRODUCED", (report.reason, report.runtime)
    runroot = report.command["argv"][report.command["argv"].index("--runroot") + 1]
    assert len(runroot) <= 50 and not runroot.startswith(str(long_tmp))
    assert set(Path("/tmp").glob("sciregistry-run-*")) == before  # removed after the run
    assert list(long_tmp.iterdir()) == []


# --- DOI resolver ------------------------------------------------------------------------------------


@pytest.fixture
def resolver(published: Published) -> Iterator[str]:
    """A DOI resolver on 127.0.0.1 that redirects known DOIs (via one extra hop) to their landing page."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    known = {published.main.doi}

    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        path = request.path.lstrip("/")
        if path.startswith("hop/"):
            return Response(
                status=302, headers={"Location": f"{published.server.url}/doi/{path[4:].upper()}"}
            )
        if path.lower() in known:
            return Response(status=302, headers={"Location": f"/hop/{path}"})
        return Response("DOI not found", status=404)

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/"
    finally:
        srv.shutdown()
        thread.join(timeout=10)


def test_locate_registry_follows_the_resolver(published: Published, resolver: str) -> None:
    assert locate_registry(published.main.doi, resolver=resolver) == published.server.url
    with pytest.raises(NotFound, match=r"does not know 10\.5072/none-0000"):
        locate_registry("10.5072/none-0000", resolver=resolver)


def test_cli_without_registry_goes_through_the_resolver(
    published: Published, resolver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.setattr(reproduce_mod, "DOI_RESOLVER", resolver)  # where the client asks
    monkeypatch.setattr(_reproduce_cli, "DOI_RESOLVER", resolver)  # what the command says it asks
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["reproduce", f"https://doi.org/{published.main.doi}", "--out", str(out), "--runtime", "none"],
        catch_exceptions=False,
    )
    assert result.exit_code == 3, result.output
    assert f"looking {published.main.doi} up at {resolver}" in result.stderr
    doc = json.loads((out / "report.json").read_bytes())
    assert doc["registry"] == published.server.url
    assert doc["verdict"] == "NOT_RUN"
