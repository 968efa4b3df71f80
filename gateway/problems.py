"""Errors as ``application/problem+json`` (RFC 9457), and the one table that maps
services' declared errors to HTTP statuses."""
from __future__ import annotations

import json
from http import HTTPStatus

from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"

# exc_path of an error raised by a service -> (HTTP status, problem type slug)
REMOTE_ERRORS: dict[str, tuple[int, str]] = {
    "wenzhen.errors.InvalidInput": (422, "validation"),
    "wenzhen.errors.NotFound": (404, "not-found"),
    "wenzhen.errors.Conflict": (409, "conflict"),
    "wenzhen.errors.Forbidden": (403, "forbidden"),
    "wenzhen.errors.Unauthorized": (401, "unauthorized"),
    "wenzhen.errors.TooManyRequests": (429, "too-many-requests"),
    "wenzhen.errors.Unavailable": (503, "service-unavailable"),
    "wenzhen.service.CallTimeout": (503, "service-unavailable"),
}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `phone`.")
    message: str
    type: str = Field(description="Machine-readable error kind.")


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = Field(examples=["urn:wenzhen:problem:validation"])
    title: str
    status: int
    detail: str = ""
    instance: str = Field(description="The request path.")
    request_id: str = Field(description="Quote it when reporting a problem; it is in every log line.")
    errors: list[FieldError] = Field(default_factory=list)


class HttpProblem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, detail: str = "", *, slug: str | None = None, title: str | None = None,
                 errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _slug(status)
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors or []
        self.headers = headers or {}


def _slug(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def render(problem: HttpProblem, path: str, request_id: str) -> bytes:
    body = Problem(
        type=f"urn:wenzhen:problem:{problem.slug}",
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=path,
        request_id=request_id,
        errors=problem.errors,
    )
    return json.dumps(body.model_dump(), ensure_ascii=False).encode()


def from_remote(exc_path: str, payload: dict) -> HttpProblem | None:
    """The HTTP problem for a service's declared error, or None when it is not declared."""
    if exc_path not in REMOTE_ERRORS:
        return None
    status, slug = REMOTE_ERRORS[exc_path]
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="wenzhen"'
    if payload.get("retry_after"):
        headers["Retry-After"] = str(payload["retry_after"])
    return HttpProblem(status, payload.get("detail", ""), slug=slug, errors=payload.get("errors", []), headers=headers)
