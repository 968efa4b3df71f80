"""The bench's own stack, as deploy.stack runs it but isolated: a fresh RabbitMQ vhost,
SecantusDB on a free port with a temporary data directory, its own database prefix and
gateway port; the seven services and the gateway; and the baselines' servers (the echo
service, the hello app). On the way out, error or Ctrl-C included, every process is
stopped, the vhost deleted and the temporary directory removed (its logs are kept, and
named, when the bench failed).
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from deploy import broker
from deploy.stack import Stack, free_port
from wenzhen.config import settings

BIN = Path(sys.executable).parent
ECHO = "bench-echo"
HELLO = "bench-hello"


class BenchStack(Stack):
    @property
    def amqp_uri(self) -> str:
        return self.env["AMQP_URI"]

    def start_echo(self) -> None:
        """``nameko run bench.echo_service``, with the services' worker pool size."""
        cfg = self.settings
        self.spawn(ECHO, [str(BIN / "nameko"), "run", "--define", f"AMQP_URI={cfg.amqp_uri}",
                          "--define", f"max_workers={cfg.service_max_workers}", "--define", "serializer=json",
                          "bench.echo_service"])

    def start_hello(self) -> str:
        """The hello app under gunicorn with the gateway's worker class, workers, threads and keep-alive
        (the same settings gateway/gunicorn.conf.py reads); returns its URL once it answers."""
        cfg = self.settings
        port = free_port()
        proc = self.spawn(HELLO, [str(BIN / "gunicorn"), "--worker-class", "gthread",
                                  "--workers", str(cfg.gateway_workers), "--threads", str(cfg.gateway_threads),
                                  "--keep-alive", "5", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                                  "bench.hello_app:app"])
        url = f"http://127.0.0.1:{port}"
        wait_answers(url + "/", proc, self.logs / f"{HELLO}.log")
        return url


def wait_answers(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer; see {log}") from None
            time.sleep(0.2)


@contextmanager
def isolated_stack(say: Callable[[str], None]) -> Iterator[BenchStack]:
    run = uuid.uuid4().hex[:8]
    var = Path(tempfile.mkdtemp(prefix=f"wenzhen-bench-{run}-"))
    try:
        with _running(run, var, say) as stack:
            yield stack
    except KeyboardInterrupt:
        shutil.rmtree(var, ignore_errors=True)
        raise
    except BaseException:
        for path in var.iterdir():
            if path.name != "log":
                shutil.rmtree(path, ignore_errors=True)
        say(f"logs kept in {var / 'log'}")
        raise
    shutil.rmtree(var, ignore_errors=True)


@contextmanager
def _running(run: str, var: Path, say: Callable[[str], None]) -> Iterator[BenchStack]:
    base = settings().amqp_uri
    broker.ensure(base, say=say)
    vhost = f"wenzhen-bench-{run}"
    with ExitStack() as cleanup:
        amqp_uri = broker.create_vhost(base, vhost)
        cleanup.callback(_shielded, broker.delete_vhost, vhost)
        say(f"RabbitMQ vhost {vhost}")
        stack = BenchStack(_env(run, amqp_uri, var), var, say=say)
        cleanup.callback(_shielded, _stop_all, stack, say)
        stack.start_system((free_port(), var / "db"), ready_timeout=120)
        say(f"gateway {stack.gateway_url()} ready")
        yield stack


def _env(run: str, amqp_uri: str, var: Path) -> dict[str, str]:
    return {
        "AMQP_URI": amqp_uri,
        "MONGO_URI": "",  # set once the bench's own SecantusDB answers
        "WENZHEN_DB_PREFIX": f"bench{run}_",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(free_port()),
        "COURIER_SANDBOX_PORT": str(free_port()),  # beside a running `make run` (its sandbox on 8791)
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics"),
        "ACCESS_TOKEN_TTL_SECONDS": "3600",  # the callers' tokens outlive the run
        "GATEWAY_TRUSTED_PROXIES": "1",  # sign-ins come "from" many origins (X-Forwarded-For), see gateway_login
        # one caller sends every request of a figure: a budget that never runs out (still spent, as in production)
        "GATEWAY_REQUESTS_PER_MINUTE": "100000000",
    }


def _stop_all(stack: Stack, say: Callable[[str], None]) -> None:
    say("stopping the bench's processes…")
    stack.stop_all()


def _shielded(fn: Callable[..., None], *args: object) -> None:
    """Run a clean-up step with Ctrl-C ignored, so a second Ctrl-C cannot leave processes behind."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fn(*args)
    finally:
        signal.signal(signal.SIGINT, previous)
