"""OCI Distribution v1.1.1 endpoints."""

from sciregistry.api.v2.routes import bp

__all__ = ["bp"]
