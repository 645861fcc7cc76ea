"""The schema revision the code expects and the one the database is at, without importing alembic
(``/readyz`` asks on every probe; alembic costs about 10 MiB per worker, see ``db/migrate.py``)."""

from __future__ import annotations

import functools
import os
import re

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

VERSIONS = os.path.join(os.path.dirname(__file__), "migrations", "versions")
_REV = re.compile(r"""^revision\s*(?::\s*str\s*)?=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)""", re.MULTILINE)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions no other migration builds on (one, on a linear history)."""
    revs: set[str] = set()
    downs: set[str] = set()
    for name in os.listdir(VERSIONS):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(VERSIONS, name), encoding="utf-8") as f:
            src = f.read()
        rev, down = _REV.search(src), _DOWN.search(src)
        if rev:
            revs.add(rev.group(1))
        if down and down.group(1):
            downs.add(down.group(1))
    return frozenset(revs - downs)


def database_revisions(conn: Connection) -> frozenset[str]:
    """What ``alembic_version`` records (empty when the database was never migrated)."""
    try:
        return frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError as exc:
        if "alembic_version" in str(exc.orig):
            return frozenset()
        raise
