"""``/api/v1/docs/``: Swagger UI over ``/api/v1/openapi.json``, every asset served by the registry.

The viewer's page and start-up script are ours (``viewer/``); Swagger UI's own files come from the
``flask-swagger-ui`` distribution, so no third-party code is copied into this repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from sciregistry.errors import NotFound

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

_OURS = {"index.html": "text/html; charset=utf-8", "viewer.js": "text/javascript; charset=utf-8"}
_SWAGGER = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)


def _swagger_dist() -> Path | None:
    try:
        import flask_swagger_ui
    except ImportError:
        return None
    return Path(flask_swagger_ui.__file__).parent / "dist"


@bp.get("/")
@bp.get("/<name>")
def viewer(name: str = "index.html") -> Response:
    if name in _OURS:
        body = (files("sciregistry.api.ext") / "viewer" / name).read_bytes()
        return Response(body, mimetype=_OURS[name].split(";")[0], headers={"Cache-Control": "no-cache"})
    dist = _swagger_dist()
    if name not in _SWAGGER or dist is None:
        raise NotFound(
            f"no such file: /api/v1/docs/{name}"
            if dist
            else "the API viewer needs flask-swagger-ui (pip install flask-swagger-ui); "
            "the document itself is at /api/v1/openapi.json"
        )
    resp = send_from_directory(dist, name, max_age=86400)
    return resp
