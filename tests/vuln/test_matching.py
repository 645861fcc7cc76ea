"""Version ordering per ecosystem and OSV matching with real PyPI Advisory Database records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciregistry.sbom import inventory
from sciregistry.sbom import versions as V
from sciregistry.sbom.catalogue import Package
from sciregistry.sbom.cvss import base_score, rating
from sciregistry.sbom.osv import Matcher, OsvError, parse_record
from tests.vuln.images import alpine_image, debian_image, openers

DATA = Path(__file__).parent / "data"


def records(*names: str):  # type: ignore[no-untyped-def]
    return [parse_record((DATA / n).read_bytes(), n) for n in names]


@pytest.mark.parametrize(
    "type_, lower, higher",
    [
        ("pypi", "2.9.6", "2.10"),
        ("pypi", "2.11.0rc1", "2.11.0"),
        ("deb", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
        ("deb", "3.0.11-1~deb12u2", "3.0.11-1"),
        ("deb", "1:9.9-1", "2:1.0-1"),
        ("apk", "1.36.1-r2", "1.36.1-r5"),
        ("apk", "1.36.1-r9", "1.36.1-r10"),
        ("apk", "1.0_rc1", "1.0"),
        ("apk", "1.0", "1.0_p1"),
        ("apk", "1.0a", "1.0b"),
        ("apk", "1.9", "1.10"),
        ("rpm", "5.1.8-6.el9", "5.1.8-10.el9"),
        ("rpm", "1.0~rc1-1", "1.0-1"),
        ("rpm", "1:2.0-1", "9:1.0-1"),
        ("npm", "1.0.0-alpha", "1.0.0"),
        ("npm", "1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("npm", "4.17.9", "4.17.20"),
        ("cran", "3.4.4", "3.10.0"),
        ("bioconductor", "1.40.2", "1.40.10"),
        ("conda", "1.17", "1.17.1"),
        ("conda", "1.9", "1.10"),
        ("conda", "1.0.dev1", "1.0"),
    ],
)
def test_version_order(type_: str, lower: str, higher: str) -> None:
    assert V.compare(type_, lower, higher) == -1
    assert V.compare(type_, higher, lower) == 1
    assert V.compare(type_, lower, lower) == 0
    if type_ in ("pypi", "conda", "cran"):
        assert V.compare(type_, "1.0", "1.0.0") == 0  # never a string comparison


def test_cvss() -> None:
    assert base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert base_score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N") == 8.1  # PYSEC-2023-192
    assert base_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N") == 6.1
    assert rating(9.8) == "CRITICAL" and rating(6.1) == "MEDIUM"


def test_real_pypi_records_vulnerable_matched_fixed_not() -> None:
    m = Matcher(records("pypa/PYSEC-2019-220.json", "pypa/PYSEC-2021-66.json", "pypa/PYSEC-2023-192.json"))

    def ids(name: str, version: str) -> set[str]:
        return {
            f.advisory for f in m.match([Package("pypi", name, version, f"pkg:pypi/{name}@{version}", "p")])
        }

    assert ids("Jinja2", "2.10") == {"PYSEC-2021-66"}  # 2.10 >= 2.8.1: only the ReDoS
    assert ids("jinja2", "2.8") == {"PYSEC-2019-220", "PYSEC-2021-66"}
    assert ids("jinja2", "2.11.3") == set()  # the fixed version
    assert ids("jinja2", "3.1.2") == set()
    # two ranges (introduced 2.0.0 fixed 2.0.6; introduced 0 fixed 1.26.17)
    assert ids("urllib3", "1.26.5") == {"PYSEC-2023-192"}
    assert ids("urllib3", "1.26.17") == set()
    assert ids("urllib3", "2.0.5") == {"PYSEC-2023-192"}
    assert ids("urllib3", "2.0.6") == set()
    [f] = m.match([Package("pypi", "urllib3", "1.26.5", "pkg:pypi/urllib3@1.26.5", "site/METADATA")])
    assert f.severity == "HIGH" and f.score == 8.1 and f.fixed == ["1.26.17", "2.0.6"]


def test_image_findings_dpkg_apk_python() -> None:
    m = Matcher(
        records(
            "pypa/PYSEC-2021-66.json",
            "pypa/PYSEC-2023-192.json",
            "distro/DSA-0000-openssl.json",
            "distro/ALPINE-0000-busybox.json",
        )
    )
    deb = {(f.advisory, f.package.name) for f in m.match(inventory(openers(debian_image())).packages)}
    assert deb == {
        ("PYSEC-2021-66", "Jinja2"),
        ("PYSEC-2023-192", "urllib3"),
        ("TEST-DEB-2023-0001", "libssl3"),
    }
    alp = m.match(inventory(openers(alpine_image())).packages)
    assert [(f.advisory, f.package.name, f.fixed) for f in alp] == [
        ("TEST-ALPINE-2023-0001", "busybox", ["1.36.1-r5"])
    ]
    fixed = Package(
        "apk",
        "busybox",
        "1.36.1-r5",
        "pkg:apk/alpine/busybox@1.36.1-r5",
        "lib/apk/db/installed",
        source="busybox",
        namespace="alpine",
        distro="3.18.4",
    )
    other_release = Package(
        "deb", "libssl3", "3.0.11-1~deb12u1", "x", "p", source="openssl", namespace="debian", distro="11"
    )
    assert m.match([fixed, other_release]) == []


@pytest.mark.parametrize(
    "doc, message",
    [
        ("[1]", "not a JSON object"),
        ('{"id": "X"}', "modified"),
        ("{", "not JSON"),
        (
            (
                '{"id": "X", "modified": "2020", "affected": [{"package": {"ecosystem": "PyPI", '
                '"name": "a"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"bogus": "1"}]}]}]}'
            ),
            "unknown range event",
        ),
        ('{"id": "X", "modified": "2020", "database_specific": {"kind": "rumour"}}', "kind"),
    ],
)
def test_malformed_records(doc: str, message: str) -> None:
    with pytest.raises(OsvError, match=message):
        parse_record(doc.encode())


def test_unorderable_range_keeps_versions_list() -> None:
    rec = json.loads((DATA / "pypa/PYSEC-2021-66.json").read_text())
    rec["affected"][0]["ranges"][0]["events"][1] = {"fixed": "not a version!"}
    m = Matcher([parse_record(rec)])
    assert [f.advisory for f in m.match([Package("pypi", "jinja2", "2.10", "x", "p")])] == ["PYSEC-2021-66"]
    assert m.match([Package("pypi", "jinja2", "3.0.0", "x", "p")]) == []  # only the range would match


DEB_VERSIONS = [
    "1.0",
    "1.0-1",
    "1.0-0",
    "1:0.9",
    "1.0~rc1",
    "1.0~rc1-1",
    "1.0~~",
    "1.0~",
    "1.0a",
    "1.0+b1",
    "1.0.1",
    "1.00",
    "1.0-1~deb12u1",
    "1.0-1+deb12u1",
    "1.0-1.1",
    "2.0",
    "10.0",
    "1.0-a",
    "1.0-10",
    "1.0-9",
    "0:1.0",
    "3.0.11-1~deb12u2",
    "3.0.11-1",
    "1.2.13.dfsg-1",
    "1.2.13-1",
    "7.88.1-10+deb12u5",
]


def test_debian_order_agrees_with_python_debian() -> None:
    debian_support = pytest.importorskip("debian.debian_support", reason="python-debian not installed")
    import itertools

    for a, b in itertools.product(DEB_VERSIONS, repeat=2):
        theirs = debian_support.version_compare(a, b)
        ours = V.compare("deb", a, b)
        assert (ours > 0) - (ours < 0) == (theirs > 0) - (theirs < 0), (a, b)
