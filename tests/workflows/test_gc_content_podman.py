"""Run the built image with podman and compare with the host run (skipped, with the probe's
stderr, where podman cannot run containers)."""

import json
from pathlib import Path

from gc_content_support import DATA_DIR, PipelineRunner, Podman


def test_podman_keeps_manifest_digest(podman: Podman) -> None:
    proc = podman.cmd("image", "inspect", podman.image_id)
    assert proc.returncode == 0, proc.stderr
    [info] = json.loads(proc.stdout)
    assert info["Digest"] == podman.manifest_digest
    assert info["Config"]["Cmd"] == ["/bin/sh"]


def test_image_run_matches_host_run(podman: Podman, run_pipeline: PipelineRunner, tmp_path: Path) -> None:
    """The registry's run template: ``/bin/sh -c '<rendered command>'`` inside the image."""
    host_out = tmp_path / "host"
    host = run_pipeline("--k", "3", "--min-length", "100", DATA_DIR, host_out)
    assert host.returncode == 0, host.stderr

    image_out = tmp_path / "image"
    image_out.mkdir()
    rendered = "gc-content.sh --k 3 --min-length 100 /in/reads /out"
    proc = podman.run(
        "-v",
        f"{DATA_DIR}:/in/reads:ro",
        "-v",
        f"{image_out}:/out",
        podman.image_id,
        "/bin/sh",
        "-c",
        rendered,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == host.stderr
    assert sorted(p.name for p in image_out.iterdir()) == ["gc.tsv", "kmers.tsv"]
    for name in ("gc.tsv", "kmers.tsv"):
        assert (image_out / name).read_bytes() == (host_out / name).read_bytes(), name


def test_image_rejects_bad_options(podman: Podman) -> None:
    proc = podman.run(podman.image_id, "/bin/sh", "-c", "gc-content.sh --k 0 --min-length 1 /in /out")
    assert proc.returncode == 2
    assert "gc-content.sh: --k must be an integer >= 1, got 0" in proc.stderr
