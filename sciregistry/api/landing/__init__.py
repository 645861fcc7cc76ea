"""DOI landing pages: ``GET /doi/<prefix>/<suffix>``.

One URL per DOI answers a person (HTML), a reference manager (BibTeX, CSL JSON, APA text), a
metadata harvester (DataCite JSON, schema.org JSON-LD) and a reproducibility tool (the run's
RO-Crate), chosen by ``Accept`` or ``?format=``; every answer carries Signposting ``Link``
headers (https://signposting.org/FAIR/). Registered by the composition root::

    from sciregistry.api.landing import bp as landing_bp; app.register_blueprint(landing_bp)
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("landing", __name__, template_folder="templates")

from sciregistry.api.landing import routes as _routes  # noqa: E402, F401  (registers the views on bp)

__all__ = ["bp"]
