"""The WSGI application: ``gateway.app:app`` (gunicorn -c gateway/gunicorn.conf.py)."""
from __future__ import annotations

import falcon

from gateway.api import RequestContextMiddleware, install_error_handlers
from gateway.app_api import api
from gateway.routes import (  # noqa: F401 - registers the routes
    audit,
    auth,
    booking,
    complaints,
    consultations,
    fhir,
    knowledge,
    patients,
    payments,
    pharmacy,
    records,
    reports,
    staff,
    system,
)


def create_app() -> falcon.App:
    app = falcon.App(middleware=[RequestContextMiddleware()])
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    api.mount(app)
    return app


app = create_app()
