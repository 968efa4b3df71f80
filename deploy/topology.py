"""Broker topology derived from the code: every service's events exchange, and
every event handler's durable queue and binding.

Declared before any service starts (``make run`` and the tests do it), so no
event published afterwards can be lost for want of a queue (Nameko #717).
``python -m deploy.topology`` declares against ``AMQP_URI``;
``--definitions`` prints a RabbitMQ definitions document instead.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pika
from nameko.events import EventHandler

from services import service_class
from wenzhen.config import SERVICES, settings
from wenzhen.consumer import queue_name


@dataclass(frozen=True)
class Subscription:
    source: str
    event_type: str
    service: str
    method: str

    @property
    def queue(self) -> str:
        return queue_name(self.source, self.event_type, self.service, self.method)

    @property
    def exchange(self) -> str:
        return f"{self.source}.events"


def subscriptions() -> list[Subscription]:
    subs = []
    for name in SERVICES:
        cls = service_class(name)
        for attr in dir(cls):
            for entrypoint in getattr(getattr(cls, attr), "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler):
                    subs.append(Subscription(entrypoint.source_service, entrypoint.event_type, name, attr))
    return sorted(subs, key=lambda s: s.queue)


def declare(amqp_uri: str | None = None) -> list[Subscription]:
    subs = subscriptions()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri or settings().amqp_uri))
    try:
        channel = connection.channel()
        channel.exchange_declare("nameko-rpc", exchange_type="topic", durable=True)
        for name in SERVICES:
            channel.exchange_declare(f"{name}.events", exchange_type="topic", durable=True)
        for sub in subs:
            channel.queue_declare(sub.queue, durable=True)
            channel.queue_bind(sub.queue, sub.exchange, routing_key=sub.event_type)
    finally:
        connection.close()
    return subs


def definitions(vhost: str = "/") -> dict:
    subs = subscriptions()
    exchanges = [{"name": "nameko-rpc", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                  "internal": False, "arguments": {}}]
    exchanges += [{"name": f"{n}.events", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": {}} for n in SERVICES]
    return {
        "exchanges": exchanges,
        "queues": [{"name": s.queue, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
                   for s in subs],
        "bindings": [{"source": s.exchange, "vhost": vhost, "destination": s.queue, "destination_type": "queue",
                      "routing_key": s.event_type, "arguments": {}} for s in subs],
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--definitions"]:
        print(json.dumps(definitions(), indent=2))
        return
    subs = declare()
    print(f"declared {len(SERVICES) + 1} exchanges and {len(subs)} durable queues")


if __name__ == "__main__":
    main(sys.argv[1:])
