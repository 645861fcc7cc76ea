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
from sciregistry.db.models.oci import (
    Blob,
    Manifest,
    ManifestRef,
    Repository,
    RepositoryBlob,
    Tag,
    TaskLock,
    Upload,
)
from sciregistry.db.models.provenance import (
    Run,
    RunAncestor,
    RunAncestorCount,
    RunInput,
    RunOutput,
    RunParameter,
    RunStep,
    RunWorkflow,
)
from sciregistry.db.models.search import SearchEntry
from sciregistry.db.models.vuln import (
    ImageFinding,
    ImagePackage,
    ScanJob,
    VulnMeta,
    VulnPackage,
    VulnPolicy,
    VulnRecord,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Blob",
    "Doi",
    "DoiPin",
    "ImageFinding",
    "ImagePackage",
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
    "RunAncestorCount",
    "RunInput",
    "RunOutput",
    "RunParameter",
    "RunStep",
    "RunWorkflow",
    "ScanJob",
    "SearchEntry",
    "Tag",
    "TaskLock",
    "Upload",
    "User",
    "VulnMeta",
    "VulnPackage",
    "VulnPolicy",
    "VulnRecord",
]
