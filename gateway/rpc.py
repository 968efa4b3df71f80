"""The gateway's RPC client: one per worker process, created after gunicorn forks."""
from __future__ import annotations

import os
import threading

from wenzhen.config import settings
from wenzhen.rpc_client import RpcClient

_client: RpcClient | None = None
_pid: int | None = None
_lock = threading.Lock()


def client() -> RpcClient:
    """The process's client (a fork gets its own: threads and sockets do not survive fork)."""
    global _client, _pid
    if _client is None or _pid != os.getpid():
        with _lock:
            if _client is None or _pid != os.getpid():
                from gateway import streams
                from gateway.revocations import subscriptions

                cfg = settings()
                _client = RpcClient(cfg.amqp_uri, timeout=cfg.rpc_timeout, name=f"gateway-{os.getpid()}",
                                    subscriptions=(*subscriptions(), streams.subscription()))
                _pid = os.getpid()
    return _client
