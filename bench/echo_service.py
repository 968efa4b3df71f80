"""The RPC baseline: a Nameko service that only answers (``bench_echo.echo``).

The bench runs it with ``nameko run bench.echo_service`` on its own vhost.
"""
from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

SERVICE = "bench_echo"


class EchoService:
    name = SERVICE

    @rpc
    def echo(self, value: Any) -> Any:
        return value
