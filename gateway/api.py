"""Declarative routes: each operation names its method, path, models and who
may call it; the same declaration drives authorization, validation, dispatch
and the OpenAPI document, so they cannot drift apart.

Nothing is reachable by default: a route without ``allow`` (a set of roles, or
``PUBLIC``) refuses to mount. A caller without a valid token gets 401 on a
non-public route, a caller whose role is not allowed 403. The role check is
coarse; the services re-check ownership (whose record) themselves.
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

from contracts.fhir import FHIR_JSON
from gateway import auth, metrics, rpc
from gateway.budget import ORIGIN_PREFIX, Budget, retry_after
from gateway.fhir.resources import is_fhir, operation_outcome
from gateway.problems import PROBLEM_JSON, HttpProblem, from_remote, render
from wenzhen import context
from wenzhen.auth import ORIGIN_IP_KEY, PRINCIPAL_KEY, PURPOSE_KEY, Principal, Role
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
class Stream:
    """A handler's answer that goes on after the handler returns (Server-Sent Events): ``chunks`` is iterated by
    the server, holding one worker thread until it ends."""

    chunks: Any
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    method: str
    path: str
    handler: Callable
    summary: str
    tags: list[str]
    allow: frozenset[Role] | str  # roles that may call it, or auth.PUBLIC
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None  # query-string parameters
    response: Any = None  # a model, list[model], or None
    status: int = 200
    errors: dict[int, str] = field(default_factory=dict)
    description: str = ""
    content_type: str = JSON  # of the success response
    raw_body: str | None = None  # the handler reads the body itself (a file): what it must be, for the document
    media_types: tuple[str, ...] = ()  # a file answered with one of these (the Content-Type the handler sets)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def public(self) -> bool:
        return self.allow == auth.PUBLIC

    def authorize(self, principal: Principal) -> None:
        if self.public:
            return
        if not principal.authenticated:
            raise auth.unauthorized("Sign in first: send `Authorization: Bearer <access token>`.", "invalid_request")
        if principal.role not in self.allow:
            raise HttpProblem(403, "Your role may not use this operation.", slug="forbidden")


class Call:
    """What a handler gets: the validated body, path parameters and an RPC helper
    that carries the request's context (correlation id) to the service."""

    def __init__(self, req: falcon.Request, body: BaseModel | None, params: dict, query: BaseModel | None = None):
        self.req = req
        self.body = body
        self.query = query
        self.params = params
        self.request_id: str = req.context.request_id
        self.principal: Principal = req.context.principal

    def rpc(self, service: str, method: str, *args, **kwargs):
        try:
            return rpc.client().call(service, method, *args, context=self.rpc_context(), **kwargs)
        except RemoteError as exc:
            raise translate_remote(exc) from None
        except ServiceUnavailable as exc:
            raise HttpProblem(503, str(exc), slug="service-unavailable") from None
        except RpcTimeout as exc:
            raise HttpProblem(504, str(exc), slug="service-timeout") from None

    def rpc_each(self, services, method: str, *args, **kwargs) -> tuple[dict[str, Any], list[str]]:
        """The same call on several services at once: their answers, and the services that did not answer.
        A declared error from any of them (e.g. 403) is raised as usual."""
        client = rpc.client()
        pending, failed = {}, []
        for name in services:
            try:
                pending[name] = client.call_async(name, method, *args, context=self.rpc_context(), **kwargs)
            except ServiceUnavailable:
                failed.append(name)
        answers = {}
        for name, future in pending.items():
            try:
                answers[name] = client.result(future)
            except RemoteError as exc:
                raise translate_remote(exc) from None
            except (ServiceUnavailable, RpcTimeout):
                failed.append(name)
        return answers, sorted(failed)

    def rpc_context(self) -> dict:
        """Nameko context data: the correlation id, and who is calling from where for what (never the body)."""
        data = {context.REQUEST_ID_KEY: self.request_id, ORIGIN_IP_KEY: self.req.context.origin_ip}
        if self.principal.authenticated:
            data[PRINCIPAL_KEY] = self.principal.to_context()
            data[PURPOSE_KEY] = auth.purpose(self.req, self.principal).value
        return data


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

    def route(self, method: str, path: str, *, summary: str, tags: list[str], allow, request=None, query=None,
              response=None, status: int = 200, errors: dict[int, str] | None = None, content_type: str = JSON,
              raw_body: str | None = None, media_types: tuple[str, ...] = ()):
        """``allow``: the roles that may call it (an iterable of Role) or ``auth.PUBLIC``; there is no default."""
        allowed = allow if allow == auth.PUBLIC else frozenset(Role(r) for r in allow)

        def register(handler: Callable) -> Callable:
            self.operations.append(Operation(
                method=method.upper(), path=path, handler=handler, summary=summary, tags=tags, allow=allowed,
                request=request, query=query, response=response, status=status, errors=errors or {},
                description=(handler.__doc__ or "").strip(), content_type=content_type, raw_body=raw_body,
                media_types=media_types,
            ))
            return handler

        return register

    def mount(self, app: falcon.App) -> None:
        for op in self.operations:
            if op.allow != auth.PUBLIC and not op.allow:
                raise RuntimeError(f"{op.method} {op.path} declares no role that may call it")
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
        op.authorize(req.context.principal)
        body = _read_body(req, op.request) if op.request else None
        query = _read_query(req, op.query) if op.query else None
        result = op.handler(Call(req, body, params, query), **params)
        if isinstance(result, Stream):
            resp.content_type = result.content_type
            resp.set_headers({"X-Accel-Buffering": "no", **result.headers})
            resp.stream = result.chunks
            return
        reply = result if isinstance(result, Reply) else Reply(result, op.status)
        resp.status = reply.status
        for name, value in reply.headers.items():
            resp.set_header(name, value)
        if reply.body is None:
            return
        if isinstance(reply.body, (bytes, str)):
            if "Content-Type" not in reply.headers:
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


MAX_JSON_DEPTH = 32  # arrays and objects inside each other; no Wenzhen body needs more than a handful


def is_chunked(req: falcon.Request) -> bool:
    return "chunked" in (req.get_header("Transfer-Encoding") or "").lower()


def read_body_bytes(req: falcon.Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, at most ``limit`` bytes (413 beyond), whether its length is declared or it arrives chunked
    (``Transfer-Encoding: chunked``: no Content-Length; the server decodes the chunks)."""
    if req.content_length is not None and req.content_length > limit:
        raise HttpProblem(413, f"The {what} is larger than {limit} bytes.", slug="too-large")
    stream = req.stream if req.content_length is None and is_chunked(req) else req.bounded_stream
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpProblem(413, f"The {what} is larger than {limit} bytes.", slug="too-large")
    return raw


def parse_json(raw: bytes) -> Any:
    """JSON as RFC 8259 sends it between systems: UTF-8, and here at most ``MAX_JSON_DEPTH`` levels deep, with
    every string a sequence of Unicode characters (no lone surrogate from a ``\\ud800`` escape, which no database
    or encoder downstream could store) and no NUL (U+0000: no text Wenzhen takes has one, BSON cannot hold one in a
    field name, and C-string consumers downstream cut text at it). Each refusal is a 400/422 that says where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpProblem(400, f"The body is not UTF-8: byte {exc.start} cannot be decoded.",
                          slug="malformed-json") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise HttpProblem(400, f"The body is not valid JSON: {exc.msg} at position {exc.pos}.",
                          slug="malformed-json") from None
    _check_tree(data)
    return data


def _too_deep() -> HttpProblem:
    return HttpProblem(400, f"The body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
                       slug="too-deep")


def _check_tree(data: Any) -> None:
    """Depth and lone surrogates, walked without recursion (the tree may be anything a client sent)."""
    pending: list[tuple[Any, int, tuple]] = [(data, 1, ())]
    while pending:
        value, depth, path = pending.pop()
        if isinstance(value, str):
            _check_text(value, path)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _check_text(key, (*path, key))
            pending.append((item, depth + 1, (*path, key)))


def _check_text(text: str, path: tuple) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = ".".join(str(part) for part in path) or "body"
        message = "contains a lone surrogate (an unpaired \\ud800–\\udfff escape)"
        raise HttpProblem(422, "A text contains a lone surrogate, which is not a Unicode character.",
                          slug="validation", errors=[{"field": where, "message": message, "type": "unicode"}]) from None
    if "\x00" in text:
        raise _nul(".".join(str(part) for part in path) or "body")


def _nul(where: str) -> HttpProblem:
    return HttpProblem(422, "A text contains a NUL character (U+0000).", slug="validation",
                       errors=[{"field": where, "message": "contains a NUL (U+0000)", "type": "unicode"}])


def _read_body(req: falcon.Request, model: type[BaseModel]) -> BaseModel:
    limit = settings().max_body_bytes
    if req.content_length is not None and req.content_length > limit:
        raise HttpProblem(413, f"The request body is larger than {limit} bytes.", slug="too-large")
    if not req.content_type or req.content_type.split(";")[0].strip().lower() != JSON:
        raise HttpProblem(415, "Send the body as application/json.", slug="unsupported-media-type")
    data = parse_json(read_body_bytes(req, limit))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        invalid = from_pydantic(exc)
        raise HttpProblem(422, invalid.detail, slug="validation", errors=invalid.errors) from None


def _read_query(req: falcon.Request, model: type[BaseModel]) -> BaseModel:
    names = {field.alias or name for name, field in model.model_fields.items()}  # FHIR's `_count` is an alias
    unknown = sorted(set(req.params) - names)
    if unknown:
        raise HttpProblem(422, "Unknown query parameters.", slug="validation",
                          errors=[{"field": name, "message": "is not a parameter of this operation",
                                   "type": "extra_forbidden"} for name in unknown])
    for name, value in req.params.items():  # a value, or a list of them when repeated
        if any("\x00" in text for text in (value if isinstance(value, list) else [value])):
            raise _nul(name)
    try:
        return model.model_validate(dict(req.params))
    except ValidationError as exc:
        invalid = from_pydantic(exc)
        raise HttpProblem(422, invalid.detail, slug="validation", errors=invalid.errors) from None


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # answers hold personal data: no shared or browser cache keeps them
}


def drain_unread_body(req: falcon.Request) -> None:
    """Read what is left of a body the answer did not need (a 401, 413 or 415 answered early). gunicorn drains only
    64 KiB itself and otherwise closes the kept-alive connection without saying so, which a client reusing it sees
    as a dropped connection. Beyond the cap, that is still what happens."""
    cap = DRAIN_CAP_FACTOR * settings().max_body_bytes
    try:
        if req.content_length and req.content_length <= cap:
            req.bounded_stream.exhaust()
        elif req.content_length is None and is_chunked(req):
            while cap > 0 and (chunk := req.stream.read(min(65536, cap))):
                cap -= len(chunk)
    except OSError:  # the client went away: nothing to keep alive
        pass


DRAIN_CAP_FACTOR = 4


class RequestContextMiddleware:
    """Takes or makes the X-Request-ID, echoes it, authenticates the caller, spends their request budget, sets the
    security headers and writes one JSON access-log line."""

    def __init__(self) -> None:
        cfg = settings()
        self.budget = Budget(cfg.gateway_requests_per_minute, origin_factor=cfg.rate_limit_origin_factor)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        req.context.request_id = context.clean_request_id(req.get_header("X-Request-ID"))
        req.context.route = None
        req.context.origin_ip = auth.origin_ip(req)
        context.bind(req.context.request_id)
        resp.set_header("X-Request-ID", req.context.request_id)
        resp.set_headers(SECURITY_HEADERS)
        req.context.principal = auth.ANONYMOUS
        req.context.principal = auth.authenticate(req)  # raises 401 for a bad token
        principal = req.context.principal
        wait = self.budget.take(principal.sub if principal.authenticated else f"{ORIGIN_PREFIX}{req.context.origin_ip}")
        if wait:
            raise HttpProblem(429, "Too many requests from this caller; slow down.", slug="too-many-requests",
                              headers={"Retry-After": retry_after(wait)})

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        drain_unread_body(req)
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
        for name, value in exc.headers.items():
            resp.set_header(name, value)
        if is_fhir(req.path):  # the FHIR interface answers its errors as FHIR does: an OperationOutcome
            resp.content_type = FHIR_JSON
            resp.data = json.dumps(operation_outcome(exc.status, exc.detail, exc.errors), ensure_ascii=False).encode()
            return
        resp.content_type = PROBLEM_JSON
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
