"""Typed SQLAlchemy 2.x models, one module per area; importing this package registers them all."""

from sciregistry.db.base import Base
from sciregistry.db.models.auth import (
    ApiToken,
    AuditEntry,
    LoginFailure,
    Namespace,
    NamespaceMember,
    RepositorySetting,
    Robot,
    User,
)
from sciregistry.db.models.doi import Doi, DoiPin
from sciregistry.db.models.oci import Blob, Manifest, ManifestRef, Repository, RepositoryBlob, Tag, Upload
from sciregistry.db.models.provenance import (
    Run,
    RunAncestor,
    RunInput,
    RunOutput,
    RunParameter,
    RunStep,
    RunWorkflow,
)
from sciregistry.db.models.search import SearchEntry

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Blob",
    "Doi",
    "DoiPin",
    "LoginFailure",
    "Manifest",
    "ManifestRef",
    "Namespace",
    "NamespaceMember",
    "Repository",
    "RepositoryBlob",
    "RepositorySetting",
    "Robot",
    "Run",
    "RunAncestor",
    "RunInput",
    "RunOutput",
    "RunParameter",
    "RunStep",
    "RunWorkflow",
    "SearchEntry",
    "Tag",
    "Upload",
    "User",
]
