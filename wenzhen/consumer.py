"""Idempotent event consumption with bounded retries and a dead-letter store.

``@consumes(AppointmentBooked)`` names the event by its contract class (``contracts.<source>.events``): the source
service, the type and the schema the data is parsed with come from the class, so a subscription cannot name an
event nobody declared. ``@consumes_all("booking")`` takes every event of a service untyped (reports' archive).
Either is a plain Nameko ``@event_handler`` (durable queue
``evt-<source>-<type>--<service>.<method>``) whose body runs inside a transaction of the consuming service's
database together with a record of ``(handler, event id)``. A second delivery of the same event finds that record
and does nothing. A handler that raises is retried with exponential backoff; after ``HANDLER_MAX_ATTEMPTS`` the
event is parked in ``dead_letters`` (and acked), to be listed and replayed with ``python -m wenzhen.deadletters``.
Nothing is acked before it is either applied or parked, so a crash mid-way means redelivery.

The decorated method receives ``(self, tx, event, envelope)``: the open transaction (:class:`wenzhen.storage.Tx`),
the typed event data (None for ``consumes_all``) and the envelope.
"""
from __future__ import annotations

import functools
import logging
import time
import traceback

from nameko.events import event_handler
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from wenzhen import context, faults
from wenzhen.config import settings
from wenzhen.events import Envelope, EventData
from wenzhen.logs import redact
from wenzhen.storage import DEAD_LETTERS, PROCESSED, Store, Tx
from wenzhen.timez import utcnow

log = logging.getLogger("wenzhen.consumer")


class _AlreadyApplied(Exception):
    pass


def queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """Nameko's name for a service-pool event handler queue."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def consumes(event: type[EventData]):
    """Subscribe to one event type, parsed into ``event`` (a tolerant reader: fields added later are ignored)."""
    if not (isinstance(event, type) and issubclass(event, EventData) and "type" in event.__dict__):
        raise TypeError(f"@consumes takes an event class of the contracts, not {event!r}")
    return _subscribe(event.source, event.type, event)


def consumes_all(source: str):
    """Subscribe to every event ``source`` publishes, untyped (the envelope only)."""
    return _subscribe(source, "#", None)


def _subscribe(source: str, event_type: str, event: type[EventData] | None):
    def decorate(fn):
        @functools.wraps(fn)
        def entrypoint(self, body):
            handler = f"{self.name}.{fn.__name__}"
            queue = queue_name(source, event_type, self.name, fn.__name__)
            return consume(self.store, handler, queue, body,
                           lambda tx, data, env: fn(self, tx, data, env), event=event)

        # Only a failure to park (the database itself unreachable) escapes ``consume``; the message
        # then goes back to the queue instead of being acked and lost.
        return event_handler(source, event_type, requeue_on_error=True)(entrypoint)

    return decorate


def archives(source: str, collection: str):
    """Keep every event of ``source`` in ``collection``, by one idempotent insert keyed by the event id: no
    transaction and no processed-events record, because the insert is the whole effect and a redelivery's insert is
    a duplicate key (already kept). The decorated method ``(self, envelope) -> dict`` gives the document's fields.
    Failures are retried and parked like any handler's."""

    def decorate(fn):
        @functools.wraps(fn)
        def entrypoint(self, body):
            handler = f"{self.name}.{fn.__name__}"
            queue = queue_name(source, "#", self.name, fn.__name__)

            def insert(envelope: Envelope) -> None:
                try:
                    self.store[collection].insert_one({**fn(self, envelope), "_id": envelope.id})
                except DuplicateKeyError:
                    raise _AlreadyApplied from None
                faults.maybe_fail(f"handler:{handler}", key=envelope.id)

            return _apply(self.store, handler, queue, body, None, lambda _data, envelope: insert(envelope))

        return event_handler(source, "#", requeue_on_error=True)(entrypoint)

    return decorate


def consume(store: Store, handler: str, queue: str, body: dict, apply, event: type[EventData] | None = None) -> str:
    """Apply ``apply(tx, data, envelope)`` once for this event (``data`` parsed as ``event``); returns the outcome."""

    def in_transaction(data, envelope: Envelope) -> None:
        def body_(tx: Tx):
            try:
                tx[PROCESSED].insert_one({"_id": f"{handler}:{envelope.id}", "at": utcnow()})
            except DuplicateKeyError:
                raise _AlreadyApplied from None
            apply(tx, data, envelope)
            faults.maybe_fail(f"handler:{handler}", key=envelope.id)

        store.transact(body_)

    return _apply(store, handler, queue, body, event, in_transaction)


def _apply(store: Store, handler: str, queue: str, body: dict, event: type[EventData] | None, effect) -> str:
    """Parse the message, then ``effect(data, envelope)`` with retries and parking; returns the outcome."""
    cfg = settings()
    try:
        envelope = Envelope.model_validate(body)
        data = envelope.parsed_as(event) if event is not None else None
    except (ValidationError, LookupError) as exc:
        _park(store, handler, queue, body, exc, attempts=1)
        return "parked"
    context.bind(envelope.correlationid, causation=envelope.id)
    for attempt in range(1, cfg.handler_max_attempts + 1):
        try:
            effect(data, envelope)
            return "applied"
        except _AlreadyApplied:
            log.info("event %s already applied by %s", envelope.id, handler)
            return "duplicate"
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then parked
            if attempt == cfg.handler_max_attempts:
                _park(store, handler, queue, body, exc, attempts=attempt)
                return "parked"
            delay = cfg.handler_retry_base * 2 ** (attempt - 1)
            log.warning("handler %s failed on event %s (attempt %d/%d, %s); retrying in %.2fs",
                        handler, envelope.id, attempt, cfg.handler_max_attempts, type(exc).__name__, delay)
            time.sleep(delay)
    return "parked"  # pragma: no cover - the loop always returns


def _park(store: Store, handler: str, queue: str, body, exc: Exception, attempts: int) -> None:
    event_id = body.get("id", "?") if isinstance(body, dict) else "?"
    now = utcnow()
    store[DEAD_LETTERS].update_one(
        {"_id": f"{handler}:{event_id}"},
        {
            "$set": {
                "handler": handler,
                "queue": queue,
                "event_id": event_id,
                "event_type": body.get("type") if isinstance(body, dict) else None,
                "body": body,
                "status": "parked",
                "parked_at": now,
                "attempts": attempts,
                "error_type": type(exc).__name__,
                "error": redact(str(exc))[:2000],
                "traceback": redact("".join(traceback.format_exception(exc)))[-8000:],
            },
            "$setOnInsert": {"first_parked_at": now, "replays": 0},
        },
        upsert=True,
    )
    log.error("event %s parked in dead letters by %s after %d attempt(s): %s",
              event_id, handler, attempts, type(exc).__name__)
