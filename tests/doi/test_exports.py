"""The public surface of sciregistry.doi and its import boundary (DESIGN section 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sciregistry import doi

EXPECTED = {
    "ALT_ID_IMAGE",
    "ALT_ID_RESULT",
    "CROCKFORD_ALPHABET",
    "DATACITE_SCHEMA_VERSION",
    "DOI_RESOLVER",
    "JSONAPI_MEDIA_TYPE",
    "SCHEMA_PATH",
    "Creator",
    "DataCiteMinter",
    "DateEntry",
    "DoiMetadata",
    "LocalMinter",
    "Minter",
    "RelatedIdentifier",
    "Rights",
    "bibtex_key",
    "build_result_metadata",
    "check_metadata",
    "datacite_schema",
    "doi_url",
    "from_datacite_json",
    "generate_suffix",
    "is_crockford_suffix",
    "is_valid_doi",
    "normalize_doi",
    "normalize_orcid",
    "split_doi",
    "to_apa",
    "to_bibtex",
    "to_csl_json",
    "to_datacite_json",
    "to_schema_org",
    "validate_metadata",
    "withdrawn_metadata",
}


def test_public_surface() -> None:
    assert set(doi.__all__) == EXPECTED
    for name in doi.__all__:
        assert getattr(doi, name) is not None


def test_schema_ships_inside_the_package() -> None:
    path = Path(doi.SCHEMA_PATH)
    assert path.parts[-3:] == ("data", "datacite", "datacite-v4.5.json")
    assert path.is_file() and (path.parent / "README.md").is_file()
    assert json.loads(path.read_text())["title"] == "DataCite v4.5"


def test_imports_nothing_but_errors_from_sciregistry() -> None:
    code = (
        "import sys, json; import sciregistry.doi; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sciregistry', 'flask', 'sqlalchemy', 'rocrate', 'oras', 'boto3'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    loaded = json.loads(out)
    assert [
        m
        for m in loaded
        if not m.startswith(("sciregistry.doi", "sciregistry.errors")) and m != "sciregistry"
    ] == []
