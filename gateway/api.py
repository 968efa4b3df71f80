"""Declarative routes: each operation names its method, path, models and who
may call it; the same declaration drives validation, dispatch and the OpenAPI
document, so they cannot drift apart.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import falcon
from pydantic import BaseModel, ValidationError

from gateway import metrics, rpc
from gateway.problems import PROBLEM_JSON, HttpProblem, from_remote, render
from wenzhen import context
from wenzhen.config import settings
from wenzhen.errors import from_pydantic
from wenzhen.rpc_client import RemoteError, RpcTimeout, ServiceUnavailable

log = logging.getLogger("gateway")
access_log = logging.getLogger("gateway.access")

JSON = "application/json"


@dataclass
class Reply:
    """A handler's answer when it needs more than a body: a status or headers."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    method: str
    path: str
    handler: Callable
    summary: str
    tags: list[str]
    request: type[BaseModel] | None = None
    response: Any = None  # a model, list[model], or None
    status: int = 200
    errors: dict[int, str] = field(default_factory=dict)
    description: str = ""
    content_type: str = JSON  # of the success response

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Call:
    """What a handler gets: the validated body, path parameters and an RPC helper
    that carries the request's context (correlation id) to the service."""

    def __init__(self, req: falcon.Request, body: BaseModel | None, params: dict):
        self.req = req
        self.body = body
        self.params = params
        self.request_id: str = req.context.request_id

    def rpc(self, service: str, method: str, *args, **kwargs):
        try:
            return rpc.client().call(service, method, *args, context=self.rpc_context(), **kwargs)
        except RemoteError as exc:
            raise translate_remote(exc) from None
        except ServiceUnavailable as exc:
            raise HttpProblem(503, str(exc), slug="service-unavailable") from None
        except RpcTimeout as exc:
            raise HttpProblem(504, str(exc), slug="service-timeout") from None

    def rpc_context(self) -> dict:
        return {context.REQUEST_ID_KEY: self.request_id}


def translate_remote(exc: RemoteError) -> HttpProblem:
    payload = exc.exc_args[0] if exc.exc_args and isinstance(exc.exc_args[0], dict) else {}
    problem = from_remote(exc.exc_path, payload)
    if problem is None:
        log.error("unexpected error from a service: %s", exc.exc_type)
        return HttpProblem(500, "An unexpected error occurred; quote the request id when reporting it.",
                           slug="internal")
    return problem


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, tags: list[str], request=None, response=None,
              status: int = 200, errors: dict[int, str] | None = None, content_type: str = JSON):
        def register(handler: Callable) -> Callable:
            self.operations.append(Operation(
                method=method.upper(), path=path, handler=handler, summary=summary, tags=tags, request=request,
                response=response, status=status, errors=errors or {}, description=(handler.__doc__ or "").strip(),
                content_type=content_type,
            ))
            return handler

        return register

    def mount(self, app: falcon.App) -> None:
        by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        for path, methods in by_path.items():
            app.add_route(path, _Resource(methods))


class _Resource:
    def __init__(self, methods: dict[str, Operation]):
        self.methods = methods
        for method in methods:
            setattr(self, f"on_{method.lower()}", self._dispatch)

    def _dispatch(self, req: falcon.Request, resp: falcon.Response, **params) -> None:
        op = self.methods[req.method]
        req.context.route = op.path
        body = _read_body(req, op.request) if op.request else None
        result = op.handler(Call(req, body, params), **params)
        reply = result if isinstance(result, Reply) else Reply(result, op.status)
        resp.status = reply.status
        for name, value in reply.headers.items():
            resp.set_header(name, value)
        if reply.body is None:
            return
        if isinstance(reply.body, (bytes, str)):
            resp.content_type = op.content_type
            resp.data = reply.body.encode() if isinstance(reply.body, str) else reply.body
        else:
            resp.content_type = JSON
            resp.data = _dumps(reply.body)


def _dumps(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _read_body(req: falcon.Request, model: type[BaseModel]) -> BaseModel:
    limit = settings().max_body_bytes
    if req.content_length is not None and req.content_length > limit:
        raise HttpProblem(413, f"The request body is larger than {limit} bytes.", slug="too-large")
    if not req.content_type or req.content_type.split(";")[0].strip().lower() != JSON:
        raise HttpProblem(415, "Send the body as application/json.", slug="unsupported-media-type")
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpProblem(413, f"The request body is larger than {limit} bytes.", slug="too-large")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise HttpProblem(400, f"The body is not valid JSON: {exc.msg} at position {exc.pos}.",
                          slug="malformed-json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        invalid = from_pydantic(exc)
        raise HttpProblem(422, invalid.detail, slug="validation", errors=invalid.errors) from None


class RequestContextMiddleware:
    """Takes or makes the X-Request-ID, echoes it, and writes one JSON access-log line."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        req.context.request_id = context.clean_request_id(req.get_header("X-Request-ID"))
        req.context.route = None
        context.bind(req.context.request_id)
        resp.set_header("X-Request-ID", req.context.request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        if started is None:
            return
        metrics.observe(req.method, req.context.route, resp.status_code, time.perf_counter() - started)
        access_log.info(
            "%s %s %s", req.method, req.context.route or "-", resp.status,
            extra={"fields": {"method": req.method, "route": req.context.route, "status": resp.status_code,
                              "ms": round((time.perf_counter() - started) * 1000, 2)}},
        )
        context.bind(None)


def install_error_handlers(app: falcon.App) -> None:
    def problem(req: falcon.Request, resp: falcon.Response, exc: HttpProblem, _params) -> None:
        resp.status = exc.status
        resp.content_type = PROBLEM_JSON
        for name, value in exc.headers.items():
            resp.set_header(name, value)
        request_id = getattr(req.context, "request_id", "") or context.clean_request_id(None)
        resp.data = render(exc, req.path, request_id)

    def http_error(req, resp, exc: falcon.HTTPError, params) -> None:
        headers = dict(exc.headers or {})
        problem(req, resp, HttpProblem(exc.status_code, exc.description or "", headers=headers), params)

    def unexpected(req, resp, exc: Exception, params) -> None:
        log.exception("unhandled error")
        problem(req, resp, HttpProblem(500, "An unexpected error occurred; quote the request id when reporting "
                                            "it.", slug="internal"), params)

    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(falcon.HTTPError, http_error)
    app.add_error_handler(HttpProblem, problem)
