"""/api/v1: sciregistry's JSON API (runs, lineage, impact, DOIs). Documented in docs/openapi.yaml."""

from sciregistry.api.ext.routes import bp

__all__ = ["bp"]
