"""Accounts and access: users, namespaces and their members, robots, API tokens, repository
visibility, and the audit log (DESIGN.md section 5).

    users ──< namespace_members >── namespaces ──< robots
      │                                              │
      └──────────────< api_tokens >──────────────────┘   (owner: a user, a robot, or none for a
                                                          reviewer token scoped to one DOI)
    repository_settings   keyed by repository *name* (a setting may precede the first push)
    audit_log             append-only: who, what, when, from where, outcome

Secrets are never stored: ``users.password_hash`` is an Argon2id PHC string and
``api_tokens.secret_hash`` is ``sha256:<hex>`` of the token (see ``sciregistry.auth``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sciregistry.db.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Namespace(Base):
    """The first path component of repository names; ``public`` is the default visibility of its
    repositories."""

    __tablename__ = "namespaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    personal: Mapped[bool] = mapped_column(Boolean, default=False)  # the namespace named after a user
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NamespaceMember(Base):
    __tablename__ = "namespace_members"

    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # owner | maintainer | writer | reader

    __table_args__ = (Index("ix_namespace_members_user", "user_id"),)


class Robot(Base):
    """A non-human principal owned by a namespace; it authenticates only with API tokens."""

    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)  # "<namespace>+<short name>"
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # its role in its namespace
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepositorySetting(Base):
    """Per-repository visibility; ``public`` None means: inherit the namespace's."""

    __tablename__ = "repository_settings"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    public: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """An API token: ``id`` is the public part of ``sr_<id>_<secret>``; only the hash of the whole is kept.

    Exactly one of ``user_id``, ``robot_id``, ``reviewer_doi`` says what it acts as. ``scopes`` is a
    space-separated list of scope patterns (``repository:lab-x/*:pull,push``), None for no limit.
    """

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"))
    reviewer_doi: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_tokens_user", "user_id"), Index("ix_api_tokens_robot", "robot_id"))


class AuditEntry(Base):
    """One audited event: a write, an authentication failure or a denied access."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    principal: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(1024))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | failure | denied | error
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON object

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class LoginFailure(Base):
    """A login-throttle counter (``key`` is ``addr:<address>`` or ``user:<casefolded name>``), shared by
    every worker; times are Unix seconds (see :mod:`sciregistry.auth.ratelimit`)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last_failure: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float] = mapped_column(Float)
