"""What every Wenzhen Nameko service is made of.

* :class:`StoreProvider` – the service's own database (``<prefix><service>``),
  its indexes created at start, the transaction helper, and beside the workers
  the outbox relay and the audit sealer;
* :class:`RequestContext` – binds the correlation id and the caller (principal,
  origin, purpose) from Nameko context data, so every log line carries the
  request id and every audit entry and event names who acted; a worker started
  by an event acts as its service;
* :class:`ServiceProcess` – both of the above and the service's settings, no RPC
  (a part of a service run as a process of its own: it must not consume the
  service's RPC queue);
* :class:`ServiceBase` – a ServiceProcess with the ``health`` RPC and the
  ``audit_events`` RPC (this service's part of the audit trail).
"""
from __future__ import annotations

import functools
import inspect
import logging
import time
import typing

from nameko.events import EventHandler
from nameko.exceptions import UnknownService, deserialize_to_instance
from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceRpc as NamekoServiceRpc
from nameko.rpc import rpc as nameko_rpc
from pydantic import BaseModel, TypeAdapter, ValidationError

from wenzhen import audit, context
from wenzhen.auth import PRINCIPAL_KEY, Caller, Principal, Role, bind_caller
from wenzhen.config import settings
from wenzhen.crypto import keyring
from wenzhen.errors import Forbidden, InvalidInput, ServiceError, Unavailable, from_pydantic, validated
from wenzhen.outbox import Relay
from wenzhen.storage import Store, client, ensure_indexes, run_upgrades

_log = logging.getLogger("wenzhen.worker")


def rpc(fn):
    """Nameko's ``@rpc`` with the contract enforced from the type hints, and our expected errors declared.

    Each argument is validated against its annotation (a model of ``contracts``, ``str``, ``int | None``, …) before
    the method runs: what crossed the process as JSON arrives as the typed value, or the call is refused with
    :class:`InvalidInput` naming the field. The result is dumped to JSON by the return annotation. So an entrypoint
    is ``def book(self, request: AppointmentRequest) -> Appointment`` and no more. Declared errors are the caller's
    problem: logged as info lines without a traceback (``logs.ExpectedErrors``)."""
    contract = _Contract(fn)

    @functools.wraps(fn)
    def entrypoint(self, *args, **kwargs):
        return contract.dump(fn(self, *contract.load(self, args, kwargs)))

    return nameko_rpc(expected_exceptions=(ServiceError,))(entrypoint)


class _Contract:
    """An entrypoint's parameters and result as pydantic types, built on first use (annotations are strings until
    the module has finished importing)."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self._built: tuple | None = None

    def _build(self) -> tuple:
        if self._built is None:
            hints = typing.get_type_hints(self.fn, include_extras=True)  # Annotated constraints too
            signature = inspect.signature(self.fn)
            params = {name: TypeAdapter(hints.get(name, typing.Any)) for name in list(signature.parameters)[1:]}
            result = TypeAdapter(hints.get("return", typing.Any))
            models = {name for name in params if isinstance(hints.get(name), type) and issubclass(hints[name],
                                                                                                 BaseModel)}
            self._built = signature, params, result, models
        return self._built

    def load(self, service, args: tuple, kwargs: dict) -> list:
        signature, params, _, models = self._build()
        try:
            bound = signature.bind(service, *args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"The call does not fit {self.fn.__name__}: {exc}.") from None
        bound.apply_defaults()
        values = []
        for name, value in list(bound.arguments.items())[1:]:
            if value is None and signature.parameters[name].default is None:
                values.append(None)
                continue
            try:
                values.append(params[name].validate_python(value))
            except ValidationError as exc:
                invalid = from_pydantic(exc)
                if name not in models:  # a plain argument: name it (a model's fields are named by themselves)
                    invalid = InvalidInput(invalid.detail, [{**e, "field": name if e["field"] == "body" else
                                                             f"{name}.{e['field']}"} for e in invalid.errors])
                raise invalid from None
        return values

    def dump(self, result):
        return self._build()[2].dump_python(result, mode="json")


def _declared(cls: type[ServiceError]) -> list[type[ServiceError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _declared(sub))]


class CallTimeout(Unavailable):
    """A service-to-service RPC took longer than its timeout."""


# A callee's declared error arrives at the calling service as the same class (not Nameko's RemoteError), so it
# reaches the gateway's table as what it is, at every call site: there is nothing to forget when adding one.
for _error in _declared(ServiceError):
    deserialize_to_instance(_error)


def call(method, *args, timeout: float | None = None, **kwargs):
    """Call a Nameko RPC proxy method with a timeout (Nameko's own has none, #360). The callee's declared errors
    come back as themselves; no answer in time, or no such service running, is :class:`Unavailable` (503)."""
    import eventlet

    seconds = settings().rpc_timeout if timeout is None else timeout
    try:
        with eventlet.Timeout(seconds, CallTimeout(f"A service did not answer within {seconds:.1f}s.")):
            return method(*args, **kwargs)
    except UnknownService:
        raise Unavailable("A service this request needs is not running.") from None


class ServiceRpc(NamekoServiceRpc):
    """An RPC proxy to another service that calls *as this service* (its own principal), keeping the request id:
    a service asking another for something it needs acts for itself, not for whoever called it."""

    def get_dependency(self, worker_ctx):
        client = super().get_dependency(worker_ctx)
        client.context_data = {**worker_ctx.context_data,
                               PRINCIPAL_KEY: Principal.service(self.container.service_name).to_context()}
        return client


class StoreProvider(DependencyProvider):
    def setup(self) -> None:
        cfg = settings()
        service = self.container.service_name
        cls = self.container.service_cls
        # keys missing or malformed: refuse to start now rather than fail every call that needs them later
        keyring()
        audit.audit_key()
        for check in cls.startup_checks:
            check()
        self.db = client(cfg.mongo_uri)[cfg.database_name(service)]
        ensure_indexes(self.db, list(cls.indexes), retired=list(cls.retired_indexes))
        run_upgrades(self.db, dict(cls.upgrades))
        self.relay = Relay(self.db, service, cfg)
        self.store = Store(self.db, on_commit=self.relay.wake, name=service)
        self.sealer = audit.Sealer(self.store, audit.audit_key(), lease_seconds=cfg.outbox_lease_seconds,
                                   poll_interval=cfg.outbox_poll_interval,
                                   checkpoint_seconds=cfg.audit_checkpoint_seconds)

    def start(self) -> None:
        self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")
        self.container.spawn_managed_thread(self.sealer.run, identifier="audit-sealer")

    def stop(self) -> None:
        self.relay.stop()
        self.sealer.stop()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> Store:
        return self.store


class RequestContext(DependencyProvider):
    """Binds the correlation id and the caller for the worker, and logs one line per worker (no arguments, no
    payloads). The dependency is the :class:`~wenzhen.auth.Caller`."""

    def worker_setup(self, worker_ctx) -> None:
        data = worker_ctx.context_data
        context.bind(data.get(context.REQUEST_ID_KEY), causation=data.get(context.EVENT_ID_KEY))
        bind_caller(self._caller(worker_ctx))
        self._started[worker_ctx] = time.perf_counter()

    def _caller(self, worker_ctx) -> Caller:
        data = worker_ctx.context_data
        if isinstance(worker_ctx.entrypoint, EventHandler):
            # reacting to a fact, not serving a person: act as this service, in the RPCs it makes too
            data[PRINCIPAL_KEY] = Principal.service(self.container.service_name).to_context()
        return Caller.from_context_data(data)

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        outcome = "ok" if exc_info is None else exc_info[0].__name__
        _log.info("%s %s", worker_ctx.entrypoint.method_name, outcome,
                  extra={"fields": {"entrypoint": worker_ctx.entrypoint.method_name, "outcome": outcome, "ms": ms}})

    def setup(self) -> None:
        self._started: dict = {}

    def get_dependency(self, worker_ctx) -> Caller:
        return self._caller(worker_ctx)


class ServiceSettings(DependencyProvider):
    """The service's own settings (``services/<name>/settings.py``, the class named by ``settings_class``), read once
    when the service starts; a setting its ``check()`` refuses stops the start, naming the variable."""

    def setup(self) -> None:
        cls = self.container.service_cls.settings_class
        self.value = cls.from_env() if cls is not None else None
        if self.value is not None and hasattr(self.value, "check"):
            self.value.check()

    def get_dependency(self, worker_ctx):
        return self.value


class LeasedLoops(DependencyProvider):
    """A service's background loops (``wenzhen.lease.LeasedLoop``: each runs in one process of the service at a time)
    beside its workers. ``make(store, settings)`` builds them once the store and the service's settings exist."""

    def __init__(self, make) -> None:
        self.make = make

    def setup(self) -> None:
        self.loops: list = []

    def start(self) -> None:  # after every dependency's setup, so the store and the settings exist
        deps = {dep.attr_name: dep for dep in self.container.dependencies}
        self.loops = list(self.make(deps["store"].store, deps["settings"].value))
        for loop in self.loops:
            self.container.spawn_managed_thread(loop.run, identifier=loop.lease_name)

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self


class ServiceProcess:
    """What every process of a service has, without any RPC: its database (with the outbox relay and the audit
    sealer), the caller, its settings. A part of a service run as a process of its own (intake's desk loop,
    ``services/intake/service.py``) derives from this alone: Nameko gives each service name one RPC queue whose
    consumers must all answer every method, so a process that answers none must not consume it."""

    name: str
    settings_class: type | None = None  # the service's EnvSettings subclass
    indexes: list = []
    retired_indexes: list = []  # (collection, index name) pairs dropped at start when present
    upgrades: dict = {}  # name → once-only change of the stored data, run at start (wenzhen.storage.run_upgrades)
    startup_checks: tuple = ()  # callables that raise when the service cannot work (e.g. a missing key)

    store = StoreProvider()
    caller = RequestContext()
    settings = ServiceSettings()


class ServiceBase(ServiceProcess):
    """Subclass, set ``name``, ``settings_class`` and (optionally) ``indexes``; add entrypoints."""

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

    @rpc
    def audit_events(self, query: dict) -> list[dict]:
        """This service's part of the audit trail, newest first. Admins search all of it; a patient (or their
        representative) only the entries about a patient they act for, without their own."""
        wanted = validated(audit.AuditQuery, query)
        principal = self.caller.principal
        allowed = principal.has_role(Role.admin) or (
            wanted.patient_id is not None and principal.acts_for(wanted.patient_id)
            and wanted.exclude_agent_id == principal.sub)
        audit.record(self.store, self.caller, audit.EXECUTE, "search", "AuditEvent", None,
                     patient_id=wanted.patient_id, outcome=audit.Outcome.success if allowed else audit.Outcome.denied)
        if not allowed:
            raise Forbidden("Only admins search the audit trail; a patient sees who else looked at their record.")
        return audit.search(self.store.db, wanted, self.name)

    @rpc
    def audit_verify(self, checkpoints: dict | None = None) -> dict:
        """Walk this service's audit chain (admins); ``checkpoints`` (service -> the newest published checkpoint)
        come from outside this database."""
        if not self.caller.principal.has_role(Role.admin):
            raise Forbidden("Only admins verify the audit trail.")
        verdict = audit.verify(self.store.db, audit.audit_key(), self.name, (checkpoints or {}).get(self.name))
        audit.record(self.store, self.caller, audit.EXECUTE, "verify", "AuditEvent", None)
        return verdict.model_dump(mode="json")
