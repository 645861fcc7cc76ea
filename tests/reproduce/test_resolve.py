"""``Registry(url).resolve(doi)`` on a live registry: image, parameters, inputs, outputs, crate, download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sciregistry.client.reproduce import Resolution
from sciregistry.errors import BadRequest, DigestInvalid, NotFound

from .conftest import FASTA, PARAMS, RENDERED, TEMPLATE, Published


def test_resolve_gives_the_recorded_run(published: Published) -> None:
    with published.registry() as reg:
        res = reg.resolve(published.main.doi)
    host = published.server.host
    assert isinstance(res, Resolution)
    assert res.doi == published.main.doi
    assert res.repository == "lab/gc-results"
    assert res.result_digest == published.main.result
    assert res.crate_digest == published.main.crate
    assert res.image.digest == published.image_digest
    assert res.image.reference == f"{host}/lab/gc-content@{published.image_digest}"
    assert res.parameters == PARAMS
    assert res.parameter_types == {"k": "integer", "min_length": "integer"}
    assert res.command == TEMPLATE
    assert res.rendered_command == RENDERED
    assert [(i.name, i.reference, i.mount) for i in res.inputs] == [
        ("reads", f"{host}/lab/reads@{published.dataset}", "/in/reads")
    ]
    assert [(o.path, o.sha256, o.size) for o in res.outputs] == [
        (name, hashlib.sha256(data).hexdigest(), len(data))
        for name, data in sorted(published.host_outputs.items())
    ]
    html = res._repr_html_()
    assert RENDERED in html and published.image_digest in html


@pytest.mark.parametrize("form", ["doi:{doi}", "https://doi.org/{doi}", "{upper}"])
def test_resolve_accepts_prefixes_and_any_case(published: Published, form: str) -> None:
    doi = published.main.doi
    with published.registry() as reg:
        res = reg.resolve(form.format(doi=doi, upper=doi.upper()))
    assert res.doi == doi


def test_resolve_unknown_and_invalid(published: Published) -> None:
    with published.registry() as reg:
        with pytest.raises(NotFound):
            reg.resolve("10.5072/none-0000")
        with pytest.raises(BadRequest):
            reg.resolve("not-a-doi")


def test_crate_is_fetched_and_verified(published: Published) -> None:
    with published.registry() as reg:
        res = reg.resolve(published.main.doi)
        check = res.crate
    assert check.problems == []
    assert check.verified
    assert check.digest == published.main.crate
    assert check.run is not None
    assert check.run.command == TEMPLATE
    assert {p.name: p.value for p in check.run.parameters} == PARAMS


def test_download_outputs_verified(published: Published, tmp_path: Path) -> None:
    with published.registry() as reg:
        res = reg.resolve(published.main.doi)
        paths = res.download(tmp_path / "outs")
        assert [p.name for p in paths] == ["gc.tsv", "kmers.tsv"]
        for p in paths:
            assert p.read_bytes() == published.host_outputs[p.name]
        one = res.outputs[1].download(tmp_path / "one")
        assert one == tmp_path / "one" / "kmers.tsv"
        files = res.inputs[0].download(tmp_path / "reads")
        assert sorted(f.name for f in files) == sorted(FASTA)


def test_download_refuses_an_output_whose_recorded_hash_disagrees(
    published: Published, tmp_path: Path
) -> None:
    with published.registry() as reg:
        res = reg.resolve(published.main.doi)
        good = res.outputs[0]
        forged = type(good)(good.path, "0" * 64, good.size, res)
        with pytest.raises(DigestInvalid, match="the record says sha256:0000"):
            forged.download(tmp_path)
    assert not (tmp_path / good.path).exists()
