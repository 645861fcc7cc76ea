"""The scan queue: each job is claimed by exactly one worker, whatever the number of workers;
a vanished worker's job is taken over; the server's thread works the queue."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from sciregistry.db.base import utcnow
from sciregistry.db.models import ScanJob
from sciregistry.registry.vulns import ScanThread, VulnService
from tests.landing.conftest import make_app
from tests.vuln.conftest import push_real_image, records
from tests.vuln.images import alpine_image, tar_layer


def _app_with_images(tmp_path: Path, database_url: str, n: int):  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "data", database_url)
    client = app.test_client()
    for i in range(n):
        push_real_image(client, "lab/many", f"v{i}", [tar_layer([("etc/hostname", f"h{i}")])])
    return app


def test_each_job_is_claimed_once(tmp_path: Path, database_url: str) -> None:
    app = _app_with_images(tmp_path, database_url, 12)
    svc = app.extensions["sciregistry"]
    workers = [VulnService(svc.registry) for _ in range(4)]
    for i, w in enumerate(workers):
        w.worker_id = f"node{i}"
    claimed: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def work(w: VulnService) -> None:
        try:
            while (job := w.claim()) is not None:
                claimed.append((w.worker_id, job))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    ids = [j for _, j in claimed]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert workers[0].claim() is None
    # a worker that vanished: its job is taken over once its claim is stale
    with svc.sessions() as s, s.begin():
        s.execute(
            update(ScanJob).where(ScanJob.id == ids[0]).values(claimed_at=utcnow() - timedelta(hours=1))
        )
    assert workers[1].claim() == ids[0]
    svc.engine.dispose()


def test_server_thread_scans_in_the_background(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path / "data", database_url)
    client = app.test_client()
    svc = app.extensions["sciregistry"]
    svc.vulns.import_records(records("distro/ALPINE-0000-busybox.json"))
    thread = ScanThread(svc.vulns, poll=0.05).start()
    try:
        img = push_real_image(client, "lab/alpine", "3.18", alpine_image())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            doc = client.get(f"/api/v1/images/lab/alpine@{img.digest}/vulnerabilities").get_json()
            if doc["images"] and doc["images"][0]["state"] == "done":
                break
            time.sleep(0.05)
        assert [f["id"] for f in doc["images"][0]["findings"]] == ["TEST-ALPINE-2023-0001"]
    finally:
        thread.close()
        svc.engine.dispose()
