"""What a bearer token from ``/token`` grants, and signing it (the endpoint is ``api/token.py``).

The JWT grants, for each requested ``repository`` scope, every action the principal holds there
(pull, push, delete; not only those asked for, so one token serves a pull-then-push client), and
``registry:catalog:*`` to whoever asks. A repository where nothing is held is left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sciregistry.auth import KeyStore, Principal, Scope, merge_scopes
from sciregistry.oci.reference import NAME_RE


class TokenIssuer:
    """Grants and signs registry tokens. ``held(principal, repository)`` is the gate's answer to
    "which actions does this principal hold there now" (its caches included)."""

    def __init__(
        self,
        keys: KeyStore,
        held: Callable[[Principal, str], frozenset[str]],
        *,
        service: str,
        token_ttl: int = 900,
    ) -> None:
        self.keys = keys
        self.held = held
        self.service = service
        self.token_ttl = token_ttl

    def grant(self, principal: Principal, requested: list[Scope]) -> list[Scope]:
        """The ``access`` a bearer token carries: on each requested repository, *every* action the
        principal holds there, whatever subset was asked (clients such as oras-py fetch one token
        with the first challenge's scope, pull, and then push with it); nothing on repositories
        where it holds nothing. ``registry:catalog:*`` to whoever asks (the listing is filtered)."""
        out: list[Scope] = []
        for s in merge_scopes(requested):
            if s.type == "repository" and s.resource_class is None:
                if not NAME_RE.match(s.name):
                    continue
                granted = Scope("repository", s.name, self.held(principal, s.name))
            elif s.type == "registry" and s.name == "catalog":
                granted = (
                    Scope("registry", "catalog", frozenset({"*"}))
                    if "*" in s.actions
                    else Scope("registry", "catalog", frozenset())
                )
            else:
                continue
            if granted.actions:
                out.append(granted)
        return out

    def issue(self, principal: Principal, requested: list[Scope]) -> tuple[dict[str, Any], list[Scope]]:
        """The token endpoint's JSON body for ``principal`` asking ``requested``, and the access granted."""
        access = self.grant(principal, requested)
        ttl = self.token_ttl
        if principal.expires_at is not None:
            ttl = max(1, min(ttl, int(principal.expires_at - time.time())))
        extra: dict[str, Any] = {"knd": principal.kind}
        if principal.token_id:
            extra["tid"] = principal.token_id
        if principal.doi:
            extra["doi"] = principal.doi
        issued = self.keys.issue(
            principal.name if principal.authenticated else "",
            access,
            self.service,
            ttl=ttl,
            extra_claims=extra,
        )
        body = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        return body, access
