"""A long-lived Nameko RPC client on pika, safe to share between threads.

Nameko's own standalone proxy is built for eventlet; the gateway runs under
gunicorn's threaded workers, and must not open a connection or a reply
queue per call. This client keeps, for the life of the process, one
connection, one channel and one exclusive reply queue (bound to the
``nameko-rpc`` exchange, where Nameko's responders publish replies), driven
by a single I/O thread. Callers on any thread publish through
``add_callback_threadsafe`` and wait on a future, so calls from many threads
are pipelined over the one connection.

Wire format (Nameko's): request body ``{"args": [...], "kwargs": {...}}``
with ``reply_to`` and ``correlation_id``; context data as ``nameko.<key>``
headers; reply body ``{"result": ..., "error": null | {exc_type, exc_path,
exc_args, value}}``. Requests are published ``mandatory``: a call to a service
with no consumer fails at once instead of waiting for the timeout.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import pika

log = logging.getLogger("wenzhen.rpc")

RPC_EXCHANGE = "nameko-rpc"


class RpcError(Exception):
    """Base for failures of the call itself (not of the remote method)."""


class RpcTimeout(RpcError):
    pass


class ServiceUnavailable(RpcError):
    pass


class RemoteError(Exception):
    """The remote method raised; carries Nameko's serialized exception."""

    def __init__(self, exc_type: str, exc_path: str, exc_args: list, value: str):
        super().__init__(f"{exc_type}: {value}")
        self.exc_type = exc_type
        self.exc_path = exc_path
        self.exc_args = exc_args
        self.value = value


@dataclass
class Subscription:
    exchange: str
    routing_key: str
    on_message: Callable[[dict], None]
    on_bound: Callable[[RpcClient], None] = lambda client: None

    def deliver(self, _channel, _method, _properties, body: bytes) -> None:
        try:
            self.on_message(json.loads(body))
        except Exception:  # noqa: BLE001 - a bad message must not take the connection down
            log.exception("subscription to %s %s: message not handled", self.exchange, self.routing_key)


class RpcClient:
    def __init__(self, amqp_uri: str, *, timeout: float = 5.0, name: str = "client",
                 connect_timeout: float = 10.0, subscriptions: tuple[Subscription, ...] = ()):
        self.timeout = timeout
        self.name = name
        self.connect_timeout = connect_timeout
        self._params = pika.URLParameters(amqp_uri)
        self._params.heartbeat = 30
        self._params.blocked_connection_timeout = 30
        self._pending: dict[str, tuple[Future, str]] = {}
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._reply_key = ""
        self._subscriptions = subscriptions  # events followed on the same connection (exclusive queues)
        self._thread = threading.Thread(target=self._run, name=f"rpc-io-{name}", daemon=True)
        self._thread.start()

    # public ------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def call(self, service: str, method: str, *args: Any, context: dict | None = None,
             timeout: float | None = None, **kwargs: Any) -> Any:
        timeout = self.timeout if timeout is None else timeout
        return self.result(self.call_async(service, method, *args, context=context, timeout=timeout, **kwargs),
                           timeout)

    def call_async(self, service: str, method: str, *args: Any, context: dict | None = None,
                   timeout: float | None = None, **kwargs: Any) -> Future:
        timeout = self.timeout if timeout is None else timeout
        if not self._ready.wait(min(timeout, self.connect_timeout)):
            raise ServiceUnavailable("message broker unreachable")
        correlation_id = uuid.uuid4().hex
        future: Future = Future()
        future.correlation_id = correlation_id  # type: ignore[attr-defined]
        self._pending[correlation_id] = (future, f"{service}.{method}")
        body = json.dumps({"args": list(args), "kwargs": kwargs}, separators=(",", ":"))
        properties = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            reply_to=self._reply_key,
            correlation_id=correlation_id,
            headers={f"nameko.{key}": value for key, value in (context or {}).items() if value is not None},
            expiration=str(max(1, int(timeout * 1000))),  # a request nobody waits for is not worth doing
        )
        channel, connection = self._channel, self._connection
        try:
            connection.add_callback_threadsafe(
                lambda: channel.basic_publish(RPC_EXCHANGE, f"{service}.{method}", body, properties, mandatory=True)
            )
        except Exception as exc:  # connection gone between the check and the publish
            self._pending.pop(correlation_id, None)
            raise ServiceUnavailable("message broker connection lost") from exc
        return future

    def result(self, future: Future, timeout: float | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        try:
            return future.result(timeout)
        except FutureTimeout:
            entry = self._pending.pop(getattr(future, "correlation_id", ""), None)
            target = entry[1] if entry else "rpc"
            raise RpcTimeout(f"{target} did not answer within {timeout:.1f}s") from None

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    # I/O thread --------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.2
        while not self._closed.is_set():
            try:
                self._connect()
                backoff = 0.2
                while not self._closed.is_set():
                    self._connection.process_data_events(time_limit=0.5)
            except Exception as exc:  # noqa: BLE001 - reconnect on any connection failure
                self._ready.clear()
                self._fail_all(ServiceUnavailable("message broker connection lost"))
                log.warning("rpc client %s: broker connection failed (%s); reconnecting in %.1fs",
                            self.name, type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        self._ready.clear()
        if self._connection and self._connection.is_open:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001
                pass

    def _connect(self) -> None:
        connection = pika.BlockingConnection(self._params)
        channel = connection.channel()
        channel.exchange_declare(RPC_EXCHANGE, exchange_type="topic", durable=True)
        reply_key = f"{self.name}-{uuid.uuid4().hex}"
        queue = f"rpc.reply-{reply_key}"
        channel.queue_declare(queue, exclusive=True, auto_delete=True)
        channel.queue_bind(queue, RPC_EXCHANGE, routing_key=reply_key)
        channel.basic_consume(queue, self._on_reply, auto_ack=True)
        channel.add_on_return_callback(self._on_return)
        for sub in self._subscriptions:
            channel.exchange_declare(sub.exchange, exchange_type="topic", durable=True)
            declared = channel.queue_declare("", exclusive=True, auto_delete=True)
            channel.queue_bind(declared.method.queue, sub.exchange, routing_key=sub.routing_key)
            channel.basic_consume(declared.method.queue, sub.deliver, auto_ack=True)
        self._connection, self._channel, self._reply_key = connection, channel, reply_key
        self._ready.set()
        for sub in self._subscriptions:  # e.g. catch up on what was missed while disconnected (may call RPC)
            threading.Thread(target=sub.on_bound, args=(self,), name=f"rpc-bound-{self.name}", daemon=True).start()

    def _on_reply(self, _channel, _method, properties, body: bytes) -> None:
        entry = self._pending.pop(properties.correlation_id or "", None)
        if entry is None:
            return  # the caller timed out already
        future, _target = entry
        try:
            reply = json.loads(body)
        except ValueError as exc:
            future.set_exception(RpcError(f"unreadable reply: {exc}"))
            return
        error = reply.get("error")
        if error:
            future.set_exception(RemoteError(error.get("exc_type", ""), error.get("exc_path", ""),
                                             error.get("exc_args", []), error.get("value", "")))
        else:
            future.set_result(reply.get("result"))

    def _on_return(self, _channel, method, properties, _body) -> None:
        entry = self._pending.pop(properties.correlation_id or "", None)
        if entry:
            entry[0].set_exception(ServiceUnavailable(f"no {method.routing_key.split('.')[0]} service is running"))

    def _fail_all(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future, _target in pending.values():
            if not future.done():
                future.set_exception(exc)
