"""The offline context cache of roc-validator is shared: one directory per content, not one per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_every_process_reuses_one_cache_directory(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "from sciregistry.provenance.validation import _seeded_cache; print(_seeded_cache())"
    paths = {
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(paths) == 1
    (only,) = paths
    assert Path(only).parent.parent == tmp_path
    assert (Path(only).parent / "http_cache.sqlite").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [Path(only).parent.name]  # no seed directory left over
