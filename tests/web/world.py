"""A registry with a private namespace and a public one, for the page and search tests.

    lab/pipeline:img-v1   lab/reads:reads-v1   lab/results (run "count reads v1", DOI)   private (alice)
    pub/results (run "count reads v2": image and dataset from lab)                      public (alice)
    pub/tools:img-v3, pub/data:reads-v3, pub/out (run "count reads v3", DOI)             public, all public
                                                                                         inputs

Users: alice (owns lab and pub), bob (no roles), root (administrator).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from landing.closure import Closure, Parameter, build_closure, mint

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-12", "root": "root-password-1"}
HOST = "registry.test"


def basic(user: str, password: str | None = None) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()


@dataclass
class World:
    app: Any
    private: Closure
    mixed: Closure
    public: Closure
    private_doi: str
    public_doi: str

    def client(self, user: str | None = None, password: str | None = None) -> Any:
        c = self.app.test_client()
        if user:
            c.environ_base["HTTP_AUTHORIZATION"] = basic(user, password)
        return c

    def run_id(self, closure: Closure) -> int:
        found = self.app.extensions["sciregistry"].runs.for_result(
            closure.result.repository, closure.result.digest
        )
        return int(found["id"])


def build_world(app: Any) -> World:
    accounts = app.extensions["sciregistry"].accounts
    for name, pw in PASSWORDS.items():
        accounts.create_user(name, pw, admin=name == "root")
    accounts.create_namespace("lab", "alice", public=False)
    accounts.create_namespace("pub", "alice", public=True)
    alice = app.test_client()
    alice.environ_base["HTTP_AUTHORIZATION"] = basic("alice")
    private = build_closure(
        alice,
        host=HOST,
        tag="v1",
        image_repo="lab/pipeline",
        dataset_repo="lab/reads",
        result_repo="lab/results",
        parameters=[Parameter("secret_threshold", 41)],
    )
    mixed = build_closure(
        alice,
        host=HOST,
        tag="v2",
        image_repo="lab/pipeline",
        dataset_repo="lab/reads",
        result_repo="pub/results",
        seed="2",
        parameters=[Parameter("min_quality", 30)],
    )
    public = build_closure(
        alice,
        host=HOST,
        tag="v3",
        image_repo="pub/tools",
        dataset_repo="pub/data",
        result_repo="pub/out",
        seed="3",
        parameters=[Parameter("window_size", 17)],
    )
    private_doi = mint(alice, private, title="Hidden counts of the private lab")["doi"]
    public_doi = mint(alice, public, title="Open window counts")["doi"]
    return World(app, private, mixed, public, private_doi, public_doi)
