"""``reproduce`` of workflow runs from engines it cannot run here: NOT_RUN with the exact commands.

A Nextflow run (nf-prov's crate shape, completed by ``run import --image``) is imported into a live
registry and minted; reproducing its DOI verifies the crate, fetches the workflow definition by
digest, and stops at NOT_RUN naming ``nextflow run`` and a ``podman pull`` of every step image by
digest. No container runtime is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from landing.closure import push_image
from provenance.engine_crates import nf_prov_crate

from sciregistry.client import Registry

from .conftest import mint


def test_nextflow_run_is_not_run_with_the_commands(server: Any, tmp_path: Path, isolated_env: Path) -> None:
    image = push_image(server.app.test_client(), "lab/rng", "1.0", seed="nf")
    crate = nf_prov_crate(tmp_path / "crate")
    with Registry(server.url, progress=False, use_stored_credentials=False) as reg:
        imported = reg.import_run(
            crate,
            f"{server.host}/lab/nf-results:v1",
            license="Apache-2.0",
            agent="Ada Lovelace",
            images={"": f"{server.host}/lab/rng@{image.digest}"},
        )
        assert [s.image.digest for s in imported.run.steps] == [image.digest, image.digest]
        doi = mint(reg, "lab/nf-results", imported.result_digest, "Nextflow run")
        report = reg.resolve(doi).reproduce(tmp_path / "again")
    assert report.verdict == "NOT_RUN", report.reason
    assert "nextflow run crate/main.nf -with-docker" in report.reason
    assert f"podman pull {server.host}/lab/rng@{image.digest}" in report.command["suggested"]
    assert report.crate["verified"] is True
    assert (tmp_path / "again" / "crate" / "main.nf").read_text().startswith("process RNG")
    saved = json.loads((tmp_path / "again" / "report.json").read_text())
    assert saved["verdict"] == "NOT_RUN"
    markdown = (tmp_path / "again" / "report.md").read_text()
    assert "RNG (1)" in markdown and "RNG (2)" in markdown and image.digest in markdown
