"""The public surface of sciregistry.auth and its import boundaries (DESIGN.md section 2)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from sciregistry import auth

#: The modules of sciregistry.auth; the package exports each one's ``__all__``, in this order.
MODULES = ("challenge", "jwt", "keyfiles", "passwords", "policy", "ratelimit", "roles", "scopes", "secrets")


def test_all_is_the_union_of_the_modules_public_names() -> None:
    expected = [name for m in MODULES for name in importlib.import_module(f"sciregistry.auth.{m}").__all__]
    assert auth.__all__ == expected
    assert len(set(expected)) == len(expected), "a name is public in two modules"
    for m in MODULES:
        module = importlib.import_module(f"sciregistry.auth.{m}")
        for name in module.__all__:
            assert getattr(auth, name) is getattr(module, name), f"{m}.{name}"


def test_every_module_is_exported() -> None:
    package = Path(auth.__file__).parent
    assert {p.stem for p in package.glob("*.py")} - {"__init__"} == set(MODULES)


def test_the_building_blocks_stay_public() -> None:
    """A sample of the names callers import from the package (registry, api, cli)."""
    for name in ("KeyStore", "Principal", "parse_scope", "hash_password", "new_token", "LoginThrottle"):
        assert name in auth.__all__, name


def test_no_flask_or_sqlalchemy() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, sciregistry.auth; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'werkzeug') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
