"""What the gateway is built on, measured bare: confirmed persistent publishes with pika,
and Nameko echo RPC through wenzhen's own RpcClient (one connection, one reply queue)."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pika

from bench.echo_service import SERVICE
from bench.load import LoadResult, summarize
from wenzhen.rpc_client import RemoteError, RpcClient, RpcError

MAX_OPERATIONS = 1_000_000  # a bound beside the time limit
# about the size of a patient as intake's get_patient returns it
ECHO_PAYLOAD = {"id": "pat_01JD3Q5X7C9V2B8N4M6K1H0G2F", "name": "压测患者", "sex": "female",
                "birth_date": "1990-03-04", "phone": "13912345678", "registered_at": "2024-11-23T15:04:05+08:00"}
PUBLISH_BODY_BYTES = 512  # about an event envelope


# pika ------------------------------------------------------------------------
def confirmed_publishes(amqp_uri: str, seconds: float, warmup: float) -> LoadResult:
    """Persistent messages (delivery_mode=2) to a durable queue of our own, one publisher
    confirm awaited per message; the queue is deleted afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        queue = f"bench.publish-{uuid.uuid4().hex[:8]}"
        channel.queue_declare(queue, durable=True)
        try:
            channel.confirm_delivery()
            _publish_for(channel, queue, warmup)
            return _publish_for(channel, queue, seconds)
        finally:
            channel.queue_delete(queue)
    finally:
        connection.close()


def _publish_for(channel, queue: str, seconds: float) -> LoadResult:
    body = b"x" * PUBLISH_BODY_BYTES
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")  # persistent
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline and len(latencies) < MAX_OPERATIONS:
        sent = time.perf_counter()
        channel.basic_publish("", queue, body, properties, mandatory=True)  # raises on a nack or a return
        latencies.append(time.perf_counter() - sent)
    return summarize([(latencies, 0)], time.perf_counter() - started)


# Nameko echo RPC -------------------------------------------------------------
def wait_for_echo(client: RpcClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.call(SERVICE, "echo", "ping", timeout=2)
            return
        except RpcError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the {SERVICE} service did not answer within {timeout:.0f}s") from None
            time.sleep(0.3)


def echo_calls(client: RpcClient, threads: int, seconds: float) -> LoadResult:
    """``threads`` callers, each calling ``echo`` back to back for ``seconds``."""
    started = time.perf_counter()
    deadline = started + seconds
    with ThreadPoolExecutor(threads, thread_name_prefix="echo") as pool:
        runs = list(pool.map(lambda _: _echo_loop(client, deadline), range(threads)))
    return summarize(runs, time.perf_counter() - started)


def _echo_loop(client: RpcClient, deadline: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    while time.perf_counter() < deadline and len(latencies) < MAX_OPERATIONS:
        started = time.perf_counter()
        try:
            client.call(SERVICE, "echo", ECHO_PAYLOAD)
        except (RpcError, RemoteError):
            errors += 1
        latencies.append(time.perf_counter() - started)
    return latencies, errors
