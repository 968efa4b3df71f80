"""Making sure a RabbitMQ broker is there, and per-run virtual hosts for tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika


def reachable(amqp_uri: str, timeout: float = 3.0) -> bool:
    params = pika.URLParameters(amqp_uri)
    params.socket_timeout = timeout
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def is_local(amqp_uri: str) -> bool:
    return (urlsplit(amqp_uri).hostname or "localhost") in ("localhost", "127.0.0.1", "::1")


def ensure(amqp_uri: str, say=print, wait: float = 90.0) -> None:
    """Use a running broker; else start the installed server; else (as root) install Debian's
    rabbitmq-server and start it; else explain exactly what to do."""
    if reachable(amqp_uri):
        return
    if not is_local(amqp_uri):
        raise SystemExit(f"RabbitMQ at {redact(amqp_uri)} is not reachable; check AMQP_URI and that the broker runs.")
    if shutil.which("rabbitmq-server") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise SystemExit("RabbitMQ is not installed. Install it (Debian/Ubuntu: "
                             "`sudo apt-get install -y rabbitmq-server`) or set AMQP_URI to a running broker.")
        say("installing rabbitmq-server from Debian's packages (one time)…")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "rabbitmq-server"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not reachable(amqp_uri):
        say("starting RabbitMQ (rabbitmq-server -detached)…")
        subprocess.run(["rabbitmq-server", "-detached"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while not reachable(amqp_uri):
            if time.monotonic() > deadline:
                raise SystemExit("RabbitMQ did not come up; see /var/log/rabbitmq/ or run `rabbitmq-server` "
                                 "in a terminal to see why.")
            time.sleep(1)


def redact(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def with_vhost(amqp_uri: str, vhost: str) -> str:
    return urlunsplit(urlsplit(amqp_uri)._replace(path="/" + quote(vhost, safe="")))


def vhost_of(amqp_uri: str) -> str:
    path = urlsplit(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def create_vhost(amqp_uri: str, vhost: str) -> str:
    """Create ``vhost`` with full rights for the URI's user; returns the URI for it.

    Uses ``rabbitmqctl`` (the tests run next to a local broker); a remote broker
    needs the vhost made by its operator.
    """
    user = urlsplit(amqp_uri).username or "guest"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    except subprocess.CalledProcessError:
        delete_vhost(vhost)
        raise
    return with_vhost(amqp_uri, vhost)


def delete_vhost(vhost: str) -> None:
    _rabbitmqctl("delete_vhost", vhost)
