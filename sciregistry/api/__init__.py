"""HTTP only: /v2 (OCI), /token, /api/v1, /doi landing pages, /ui. The only importer of flask
besides ``sciregistry.app`` and ``sciregistry.cli``."""
