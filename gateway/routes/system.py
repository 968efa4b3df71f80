"""Health, readiness and the API description."""
from __future__ import annotations

import time

from pydantic import BaseModel, Field

from gateway import metrics, rpc
from gateway.api import Call, Reply
from gateway.app_api import api
from gateway.auth import PUBLIC
from gateway.openapi import docs_html, openapi_document
from wenzhen.config import SERVICES
from wenzhen.rpc_client import RemoteError, RpcError

READY_TIMEOUT = 2.0


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Check(BaseModel):
    state: str = Field(description="up or down", examples=["up"])
    detail: str = ""
    latency_ms: float | None = None


class Readiness(BaseModel):
    status: str = Field(description="ready or not ready")
    broker: Check
    database: Check
    services: dict[str, Check]


@api.route("GET", "/healthz", summary="Liveness: the gateway process is up", tags=["system"], allow=PUBLIC,
           response=Health)
def healthz(call: Call) -> dict:
    return {"status": "ok"}


@api.route("GET", "/readyz", summary="Readiness: broker, database and every service answering",
           tags=["system"], allow=PUBLIC, response=Readiness, errors={503: "Something is down; the body says what."})
def readyz(call: Call) -> Reply:
    """Calls every service's `health` RPC at once (2 s budget). 200 when all are up, else 503."""
    client = rpc.client()
    broker = Check(state="up" if client.wait_connected(READY_TIMEOUT) else "down")
    services: dict[str, Check] = {}
    db_down: list[str] = []
    if client.connected:
        started = time.perf_counter()
        pending = {}
        for name in SERVICES:
            try:
                pending[name] = client.call_async(name, "health", context=call.rpc_context(), timeout=READY_TIMEOUT)
            except RpcError as exc:
                services[name] = Check(state="down", detail=str(exc))
        for name, future in pending.items():
            try:
                health = client.result(future, READY_TIMEOUT)
                services[name] = Check(state="up", latency_ms=round((time.perf_counter() - started) * 1000, 1))
                if health.get("database") != "up":
                    db_down.append(name)
            except (RpcError, RemoteError) as exc:
                services[name] = Check(state="down", detail=str(exc))
    else:
        services = {name: Check(state="down", detail="broker unreachable") for name in SERVICES}
    answered = [name for name, check in services.items() if check.state == "up"]
    if db_down:
        database = Check(state="down", detail=f"unreachable from: {', '.join(db_down)}")
    elif answered:
        database = Check(state="up")
    else:
        database = Check(state="down", detail="no service answered")
    ready = broker.state == "up" and database.state == "up" and len(answered) == len(SERVICES)
    body = Readiness(status="ready" if ready else "not ready", broker=broker, database=database,
                     services={name: services[name] for name in SERVICES})
    return Reply(body, 200 if ready else 503)


@api.route("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["system"], allow=PUBLIC)
def openapi(call: Call) -> dict:
    return openapi_document(api)


@api.route("GET", "/docs", summary="Human-readable API documentation", tags=["system"], allow=PUBLIC,
           content_type="text/html; charset=utf-8")
def docs(call: Call) -> Reply:
    return Reply(docs_html(openapi_document(api)), 200, {"Cache-Control": "no-cache"})


@api.route("GET", "/metrics", summary="Prometheus metrics of the gateway", tags=["system"], allow=PUBLIC,
           content_type=metrics.CONTENT_TYPE)
def prometheus_metrics(call: Call) -> Reply:
    return Reply(metrics.exposition())
