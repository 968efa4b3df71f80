"""The OpenAPI 3.1 document, generated from the route declarations and the
pydantic models that validate requests, and an HTML page rendered from it."""
from __future__ import annotations

import html
import types
import typing

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.fhir import FHIR_JSON
from gateway.fhir.resources import is_fhir
from gateway.problems import PROBLEM_JSON, Problem

REF = "#/components/schemas/{model}"
OPERATION_OUTCOME = {
    "type": "object", "title": "OperationOutcome",
    "description": "An error of the FHIR interface (FHIR R4 OperationOutcome): each issue names the offending "
                   "element in `expression` (a FHIRPath or a parameter).",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["severity", "code"],
            "properties": {"severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                           "code": {"type": "string"}, "diagnostics": {"type": "string"},
                           "expression": {"type": "array", "items": {"type": "string"}}}}}},
}


def _models(tp) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _models(arg)]


def _schema_ref(tp) -> dict:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {"$ref": REF.format(model=tp.__name__)}
    if typing.get_origin(tp) is list:
        return {"type": "array", "items": _schema_ref(typing.get_args(tp)[0])}
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return {"oneOf": [_schema_ref(arg) for arg in typing.get_args(tp)]}
    return {}


def _path_params(path: str) -> list[dict]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _query_params(model: type[BaseModel] | None, schemas: dict) -> list[dict]:
    """One parameter per field of ``model``; the enums and models they name are in ``components`` like any other."""
    if model is None:
        return []
    schema = schemas[model.__name__]
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": spec,
             **({"description": spec["description"]} if spec.get("description") else {})}
            for name, spec in schema.get("properties", {}).items()]


_cache: dict[tuple[int, int], dict] = {}


def openapi_document(api) -> dict:
    """Built once per set of routes (the routes are fixed after import)."""
    key = (id(api), len(api.operations))
    if key not in _cache:
        _cache[key] = _build(api.operations)
    return _cache[key]


def _build(operations: list) -> dict:
    models: dict[str, type[BaseModel]] = {"Problem": Problem}
    for op in operations:
        for model in _models(op.request) + _models(op.response):
            models[model.__name__] = model
    queries = {op.query.__name__: op.query for op in operations if op.query is not None}
    modes = [(m, "validation") for m in {**queries, **models}.values()]
    _, defs = models_json_schema(modes, ref_template=REF)
    schemas = defs.get("$defs", {})
    parameters = {name: schemas[name] for name in queries}
    for name in set(queries) - set(models):  # a query string is parameters, not a schema of its own
        del schemas[name]

    paths: dict[str, dict] = {}
    problem = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
    outcome = {FHIR_JSON: {"schema": {"$ref": REF.format(model="OperationOutcome")}}}
    schemas["OperationOutcome"] = OPERATION_OUTCOME
    for op in operations:
        failure = outcome if is_fhir(op.path) else problem
        responses: dict[str, dict] = {}
        ok: dict = {"description": {200: "OK", 201: "Created", 204: "Done (no body)"}.get(op.status, "Success")}
        if op.status == 204:
            pass  # no content
        elif op.response is not None:
            ok["content"] = {op.content_type: {"schema": _schema_ref(op.response)}}
        elif op.media_types:  # a file: one of these, as the Content-Type says
            ok["content"] = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in op.media_types}
        elif op.content_type != "application/json" and not op.content_type.endswith("+json"):
            ok["content"] = {op.content_type: {"schema": {"type": "string"}}}
        else:
            ok["content"] = {op.content_type: {"schema": {"type": "object"}}}
        responses[str(op.status)] = ok
        errors = dict(op.errors)
        if not op.public:
            errors.setdefault(401, "No valid access token (missing, expired, tampered, or its session ended).")
            errors.setdefault(403, "The caller's role may not use this operation.")
        if op.request is not None:
            errors.setdefault(400, "The body is not valid JSON.")
            errors.setdefault(413, "The body is too large.")
            errors.setdefault(415, "The body is not application/json.")
            errors.setdefault(422, "A field is invalid; `errors` names each one.")
        if op.query is not None:
            errors.setdefault(422, "A query parameter is invalid or unknown; `errors` names each one.")
        errors.setdefault(429, "Too many requests from this caller; `Retry-After` says when to try again.")
        for status, text in sorted(errors.items()):
            responses[str(status)] = {"description": text, "content": failure}
        responses["default"] = {"description": "Unexpected error (500), a service unavailable (503) or too slow "
                                               "(504).", "content": failure}
        entry = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": op.tags,
            "security": [] if op.public else [{"bearer": []}],
            "x-roles": "public" if op.public else sorted(op.allow),
            "parameters": [*_path_params(op.path), *_query_params(op.query, parameters),
                           {"name": "X-Request-ID", "in": "header", "required": False,
                            "description": "Correlation id; made if absent, echoed in the response.",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}],
            "responses": responses,
        }
        who = "Anyone may call it." if op.public else f"Who may call it: {', '.join(sorted(op.allow))}."
        entry["description"] = f"{op.description}\n\n{who}".strip()
        if op.request is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": _schema_ref(op.request)}}}
        elif op.raw_body and is_fhir(op.path):
            entry["requestBody"] = {"required": True, "description": op.raw_body,
                                    "content": {kind: {"schema": {"type": "object"}}
                                                for kind in (FHIR_JSON, "application/json")}}
        elif op.raw_body:
            entry["requestBody"] = {"required": True, "description": op.raw_body,
                                    "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                        "format": "binary"}}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Wenzhen API",
            "version": "0.1.0",
            "description": "Wenzhen (问诊): a hospital's online consultation and telemedicine service. Times are "
                           "shown in the hospital's zone (Asia/Shanghai); money is in integer fen (CNY). Errors "
                           "are application/problem+json. Every operation lists the roles that may call it "
                           "(`x-roles`); services also check whose data it is.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token from `POST /v1/auth/login` (EdDSA-signed JWT, 10 minutes). Public "
                               "keys: `/.well-known/jwks.json`.",
            }},
        },
    }


def docs_html(doc: dict) -> str:
    """A self-contained page (no scripts, no CDN) listing every operation and schema."""
    esc = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
        "code,pre{background:#f4f4f4;padding:.1em .3em;border-radius:3px}"
        ".op{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0}"
        ".m{font-weight:700;display:inline-block;min-width:4.5em}.GET{color:#0a6}.POST{color:#06c}"
        ".PUT,.PATCH{color:#c80}.DELETE{color:#c33}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #eee;padding:.2em .8em;text-align:left;vertical-align:top}</style>",
        "</head><body>",
        f"<h1>{esc(doc['info']['title'])} <small>{esc(doc['info']['version'])}</small></h1>",
        f"<p>{esc(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
        "<h2>Operations</h2>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            out.append(f"<div class='op' id='{esc(op['operationId'])}'><span class='m {method.upper()}'>"
                       f"{method.upper()}</span> <code>{esc(path)}</code> — {esc(op['summary'])}")
            if op.get("description"):
                out.append(f"<p>{esc(op['description'])}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in body:
                name = body["$ref"].rsplit("/", 1)[-1]
                out.append(f"<p>Body: <a href='#schema-{esc(name)}'>{esc(name)}</a></p>")
            out.append("<table><tr><th>Status</th><th>Meaning</th></tr>")
            for status, response in op["responses"].items():
                out.append(f"<tr><td>{esc(status)}</td><td>{esc(response['description'])}</td></tr>")
            out.append("</table></div>")
    out.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        out.append(f"<h3 id='schema-{esc(name)}'>{esc(name)}</h3>")
        if schema.get("description"):
            out.append(f"<p>{esc(schema['description'])}</p>")
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        if props:
            out.append("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>")
            for field, spec in props.items():
                kind = spec.get("type") or spec.get("format") or spec.get("$ref", "").rsplit("/", 1)[-1] or "any"
                if spec.get("format"):
                    kind = f"{spec.get('type', '')} ({spec['format']})"
                out.append(f"<tr><td><code>{esc(field)}</code></td><td>{esc(str(kind))}</td>"
                           f"<td>{'yes' if field in required else ''}</td>"
                           f"<td>{esc(spec.get('description', ''))}</td></tr>")
            out.append("</table>")
        if schema.get("enum"):
            out.append(f"<p>One of: {', '.join(f'<code>{esc(str(v))}</code>' for v in schema['enum'])}</p>")
    out.append("</body></html>")
    return "".join(out)
