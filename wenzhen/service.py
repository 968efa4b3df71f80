"""What every Wenzhen Nameko service is made of.

* :class:`StoreProvider` – the service's own database (``<prefix><service>``),
  its indexes created at start, the transaction helper, and the outbox relay
  running beside the workers;
* :class:`RequestContext` – binds the correlation id from Nameko context data
  so every log line of the worker carries it;
* :class:`ServiceBase` – both of the above and the ``health`` RPC.
"""
from __future__ import annotations

import logging
import time

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc as nameko_rpc

from wenzhen import context
from wenzhen.config import settings
from wenzhen.errors import ServiceError
from wenzhen.outbox import Relay
from wenzhen.storage import Store, client, ensure_indexes

_log = logging.getLogger("wenzhen.worker")


def rpc(fn):
    """Nameko's ``@rpc`` with our expected errors declared: they are the caller's
    problem, so they are logged as warnings without a traceback."""
    return nameko_rpc(expected_exceptions=(ServiceError,))(fn)


class CallTimeout(Exception):
    """A service-to-service RPC took longer than its timeout."""


def call(method, *args, timeout: float | None = None, **kwargs):
    """Call a Nameko RPC proxy method with a timeout (Nameko's own has none, #360)."""
    import eventlet

    seconds = settings().rpc_timeout if timeout is None else timeout
    with eventlet.Timeout(seconds, CallTimeout(f"no answer within {seconds:.1f}s")):
        return method(*args, **kwargs)


class StoreProvider(DependencyProvider):
    def setup(self) -> None:
        cfg = settings()
        service = self.container.service_name
        self.db = client(cfg.mongo_uri)[cfg.database_name(service)]
        ensure_indexes(self.db, list(getattr(self.container.service_cls, "indexes", [])))
        self.relay = Relay(self.db, service, cfg)
        self.store = Store(self.db, on_commit=self.relay.wake)

    def start(self) -> None:
        self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")

    def stop(self) -> None:
        self.relay.stop()

    def kill(self) -> None:
        self.relay.stop()

    def get_dependency(self, worker_ctx) -> Store:
        return self.store


class RequestContext(DependencyProvider):
    """Binds the correlation id for the worker and logs one line per worker (no arguments, no payloads)."""

    def worker_setup(self, worker_ctx) -> None:
        data = worker_ctx.context_data
        context.bind(data.get(context.REQUEST_ID_KEY), causation=data.get(context.EVENT_ID_KEY))
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        outcome = "ok" if exc_info is None else exc_info[0].__name__
        _log.info("%s %s", worker_ctx.entrypoint.method_name, outcome,
                  extra={"fields": {"entrypoint": worker_ctx.entrypoint.method_name, "outcome": outcome, "ms": ms}})

    def setup(self) -> None:
        self._started: dict = {}

    def get_dependency(self, worker_ctx):
        return worker_ctx.context_data.get(context.REQUEST_ID_KEY)


class ServiceBase:
    """Subclass, set ``name`` and (optionally) ``indexes``; add entrypoints."""

    name: str
    indexes: list = []

    store = StoreProvider()
    request_id = RequestContext()

    @rpc
    def health(self) -> dict:
        started = time.perf_counter()
        try:
            self.store.ping()
            db = "up"
        except Exception:  # noqa: BLE001 - reported, not raised: health must answer
            db = "down"
        return {"service": self.name, "status": "up", "database": db,
                "db_ms": round((time.perf_counter() - started) * 1000, 2)}
