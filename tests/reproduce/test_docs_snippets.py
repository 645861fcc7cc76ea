"""The Python snippet of ``docs/notebooks.md`` ("The client in three lines") is three lines, the
README says the same, and the snippet runs: against a live registry it fetches the outputs of a
published DOI, verified."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Published

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "docs" / "notebooks.md"
DOC_URL = "http://127.0.0.1:5000"
DOC_DOI = "10.5072/k3mp-0as8"


def three_line_snippet() -> tuple[str, str]:
    """(heading, code) of the section that shows the client in N lines."""
    text = NOTEBOOKS.read_text(encoding="utf-8")
    m = re.search(
        r"^## The client in (\w+) lines\n(.*?)^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL
    )
    assert m, "docs/notebooks.md has no '## The client in N lines' section with a python block"
    return m.group(1), m.group(3)


def test_the_snippet_has_as_many_lines_as_the_docs_say() -> None:
    words = {"three": 3, "four": 4, "five": 5}
    count, code = three_line_snippet()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) == words[count], code
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    claims = re.findall(r"in (\w+) lines", " ".join(readme.split()))
    assert claims and all(c == count for c in claims), claims


def test_the_snippet_runs(
    published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    _, code = three_line_snippet()
    assert DOC_URL in code and DOC_DOI in code
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(
        compile(
            code.replace(DOC_URL, published.server.url).replace(DOC_DOI, published.main.doi),
            str(NOTEBOOKS),
            "exec",
        ),
        namespace,
    )
    got = {p.name: p.read_bytes() for p in (tmp_path / "outputs").iterdir()}
    assert got == published.main.outputs
