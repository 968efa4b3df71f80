"""Expected errors a service may raise across RPC.

They travel as Nameko's serialized exceptions (``exc_type`` and ``exc_args``);
the gateway maps ``exc_type`` to an HTTP status in one table
(``gateway/problems.py``). The single argument is a JSON-safe dict so the
gateway can render per-field details without parsing strings.

A service that calls another gets the callee's declared error back as the same
class (``wenzhen.service`` registers every subclass with Nameko's
deserializer), so it passes through to the gateway as what it is — a refused
booking stays a 409 whoever asked for it — unless the caller catches it.
"""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base for expected, client-caused errors. Never carries personal data."""

    title = "Request failed"

    def __init__(self, detail: str | dict, errors: list[dict] | None = None):
        if isinstance(detail, dict):  # re-created from exc_args on the caller's side
            payload = detail
        else:
            payload = {"detail": detail, "errors": errors or []}
        super().__init__(payload)
        self.payload: dict[str, Any] = payload

    @property
    def detail(self) -> str:
        return self.payload.get("detail", "")

    @property
    def errors(self) -> list[dict]:
        return self.payload.get("errors", [])


class InvalidInput(ServiceError):
    title = "Invalid input"


class NotFound(ServiceError):
    title = "Not found"


class Conflict(ServiceError):
    title = "Conflict"


class Forbidden(ServiceError):
    title = "Forbidden"


def field_error(field: str, message: str, kind: str = "value_error") -> dict:
    return {"field": field, "message": message, "type": kind}


def from_pydantic(exc) -> InvalidInput:
    """A pydantic ValidationError as InvalidInput naming every field."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in err.get("loc", ())) or "body"
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        errors.append(field_error(loc, msg, err.get("type", "value_error")))
    return InvalidInput("The request has invalid fields.", errors)


class Unauthorized(ServiceError):
    """The caller could not be authenticated (wrong credentials, expired or revoked session)."""

    title = "Unauthorized"


class Unavailable(ServiceError):
    """Something this request needs did not answer (another service down or too slow); retrying may help."""

    title = "Service unavailable"


class TooManyRequests(ServiceError):
    """A rate limit or lockout; ``retry_after`` says in how many seconds to try again."""

    title = "Too many requests"

    def __init__(self, detail: str | dict, retry_after: int | None = None):
        super().__init__(detail)
        if retry_after is None and isinstance(detail, dict):
            retry_after = detail.get("retry_after")  # re-created on the caller's side (Nameko sends it as text)
        if retry_after is not None:
            self.payload["retry_after"] = max(1, int(retry_after))

    @property
    def retry_after(self) -> int | None:
        return self.payload.get("retry_after")


def validated(model, data):
    """``model`` validated from ``data`` (an RPC argument), or InvalidInput naming every bad field."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None
