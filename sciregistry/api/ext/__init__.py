"""/api/v1: sciregistry's JSON API (runs, lineage, impact, DOIs), checked against and documented by
docs/openapi.yaml (api/ext/contract.py); ``docs_bp`` serves a viewer of it at /api/v1/docs/."""

from sciregistry.api.ext import vulns as _vulns  # noqa: F401  (registers its routes on bp)
from sciregistry.api.ext.routes import bp
from sciregistry.api.ext.viewer import bp as docs_bp

__all__ = ["bp", "docs_bp"]
