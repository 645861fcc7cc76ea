"""The web pages: ``/`` (home), ``/search``, ``/repositories``, ``/r/<repository>`` (tags, manifests,
files), ``/datasets``, ``/runs``, ``/doi/`` (the DOI list; each DOI's page is the landing page),
``/login``, ``/account`` (tokens) and ``/admin``.

Server-rendered Jinja2 with one local stylesheet and a few lines of JavaScript (copy buttons);
nothing is loaded from elsewhere. Registered by the composition root::

    from sciregistry.api.web import install as install_web; install_web(app)
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/-/static"
)

from sciregistry.api.web import routes as _routes  # noqa: E402, F401  (registers the views on bp)


def install(app: Flask) -> None:
    """Register the pages, the session cookie settings, and the hook that presents a signed-in
    session to the access gate on pages and DOI landing pages."""
    from sciregistry.api.web.access import configure, present_session

    configure(app)
    app.register_blueprint(bp)
    app.before_request(present_session)


__all__ = ["bp", "install"]
