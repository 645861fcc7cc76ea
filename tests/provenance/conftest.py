"""Fixtures for the provenance tests: a realistic run, its crate, and a network guard."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sciregistry.provenance import (
    Agent,
    CrateFiles,
    FileRef,
    ImageRef,
    InputRef,
    Parameter,
    RunRecord,
    build_run_crate,
)

IMAGE_HEX = "a1" * 32
READS_HEX = "b2" * 32
RESULT_HEX = "c3" * 32
COUNTS_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PLOT_SHA = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


def make_run(**changes: object) -> RunRecord:
    """A run of a read-counting image over one dataset, producing two files."""
    fields: dict[str, object] = {
        "name": "count reads",
        "image": ImageRef("registry.example.org", "lab/pipeline", "1.2", f"sha256:{IMAGE_HEX}"),
        "command": (
            "count --min-q {min_quality} --mode {mode} --ratio {ratio} --paired {paired} /in/reads/ -o /out/"
        ),
        "parameters": [
            Parameter("min_quality", 20),
            Parameter("mode", "fast"),
            Parameter("ratio", 0.25),
            Parameter("paired", True),
        ],
        "inputs": [
            InputRef(
                "reads",
                f"registry.example.org/lab/reads@sha256:{READS_HEX}",
                f"sha256:{READS_HEX}",
                "lab/reads",
                [
                    FileRef("r1.fq.gz", "1" * 64, 100, "application/gzip"),
                    FileRef("sub dir/r2.fq.gz", "2" * 64, 200, "application/gzip"),
                ],
            )
        ],
        "outputs": [
            FileRef("counts.tsv", COUNTS_SHA, 1234, "text/tab-separated-values"),
            FileRef("plots/hist.png", PLOT_SHA, 99, "image/png"),
        ],
        "started": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "ended": datetime(2024, 5, 1, 14, 5, 30, tzinfo=timezone(timedelta(hours=2))),
        "agent": Agent("Ada Lovelace", "https://orcid.org/0000-0002-1825-0097"),
        "description": "Count reads per gene",
        "result_reference": f"registry.example.org/lab/results@sha256:{RESULT_HEX}",
        "license": "CC-BY-4.0",
    }
    fields.update(changes)
    return RunRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def run() -> RunRecord:
    return make_run()


@pytest.fixture
def crate(run: RunRecord) -> CrateFiles:
    return build_run_crate(run)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every socket connection to a non-loopback address fail; yield the attempts."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def loopback(address: object) -> bool:
        host = address[0] if isinstance(address, tuple) else None
        return host in ("127.0.0.1", "::1", "localhost") or (
            isinstance(address, (str, bytes))
        )  # unix sockets

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not loopback(address):
            attempts.append(address)
            raise OSError(f"network access blocked by test: {address!r}")
        real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not loopback(address):
            attempts.append(address)
            raise OSError(f"network access blocked by test: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield attempts
