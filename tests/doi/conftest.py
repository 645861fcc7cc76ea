"""Fixtures for the DOI module: a realistic result's metadata and a fake DataCite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sciregistry.doi import Creator, DoiMetadata, Rights, build_result_metadata

from .fake_datacite import FakeDataCite

IMAGE_DIGEST = "sha256:" + "a" * 64
RESULT_DIGEST = "sha256:" + "b" * 64
DATA1_DIGEST = "sha256:" + "c" * 64
DATA2_DIGEST = "sha256:" + "d" * 64
CRATE_DIGEST = "sha256:" + "e" * 64
DOI = "10.5072/a1b2-c3d4"
REG = "https://reg.example"


def result_metadata(doi: str | None = DOI, **overrides: object) -> DoiMetadata:
    """The metadata of a variant-calling result, as the registry would build it."""
    args: dict[str, object] = {
        "title": "Variant calls for NA12878 with nf-core/sarek 3.4",
        "creators": [
            Creator.person("Jane Mary", "Doe", orcid="0000-0002-1825-0097", affiliation="Example University"),
            Creator.person("Richard", "Roe", orcid="https://orcid.org/0000-0002-1694-233X"),
            Creator.organization("Example Genomics Core"),
        ],
        "publisher": "Example Lab Registry",
        "year": 2025,
        "url": f"{REG}/doi/{doi}" if doi else f"{REG}/doi/pending",
        "image_ref": f"reg.example/lab/sarek@{IMAGE_DIGEST}",
        "image_url": f"{REG}/v2/lab/sarek/manifests/{IMAGE_DIGEST}",
        "result_ref": f"reg.example/lab/results@{RESULT_DIGEST}",
        "dataset_refs": [
            (f"reg.example/data/na12878@{DATA1_DIGEST}", f"{REG}/v2/data/na12878/manifests/{DATA1_DIGEST}"),
            (f"reg.example/data/grch38@{DATA2_DIGEST}", f"{REG}/v2/data/grch38/manifests/{DATA2_DIGEST}"),
        ],
        "crate_url": f"{REG}/v2/lab/results/manifests/{CRATE_DIGEST}",
        "version": "1.0",
        "doi": doi,
        "description": "Germline short variants for NA12878 (GIAB) against GRCh38.",
        "subjects": ["genomics", "variant calling"],
        "rights": Rights(
            "Creative Commons Attribution 4.0 International",
            "https://creativecommons.org/licenses/by/4.0/legalcode",
            "cc-by-4.0",
        ),
    }
    args.update(overrides)
    return build_result_metadata(**args)  # type: ignore[arg-type]


@pytest.fixture
def meta() -> DoiMetadata:
    return result_metadata()


@pytest.fixture
def fake_datacite() -> Iterator[FakeDataCite]:
    with FakeDataCite() as fake:
        yield fake
