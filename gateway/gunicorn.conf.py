"""gunicorn settings for the gateway, from the environment (see the README's table)."""
import os
import shutil
import tempfile

from wenzhen import logs
from wenzhen.config import settings

_cfg = settings()

bind = f"{_cfg.gateway_host}:{_cfg.gateway_port}"
workers = _cfg.gateway_workers
worker_class = "gthread"
threads = _cfg.gateway_threads
keepalive = 5
timeout = 30
graceful_timeout = 10
accesslog = None  # the app writes its own JSON access line with the request id
logconfig_dict = logs.logging_config("gateway", _cfg.log_level)
# gunicorn's own loggers write JSON lines too (its defaults would add a plain-text handler)
logconfig_dict["loggers"].update({name: {"level": _cfg.log_level, "handlers": ["stderr"], "propagate": False}
                                  for name in ("gunicorn.error", "gunicorn.access")})
proc_name = "wenzhen-gateway"
# gunicorn 27's control socket defaults to one path per user: several gateways (make run, the tests,
# the bench) would replace each other's. Wenzhen does not use it.
control_socket_disable = True


def post_worker_init(worker):
    """Connect the worker's RPC client and load the ended sessions before it takes its first request (a worker
    that could not refuses tokens with 503 until it has)."""
    from gateway import rpc
    from gateway.auth import verifier
    from gateway.revocations import revocations

    verifier()  # no public keys, no start: fail here, not at the first request
    rpc.client().wait_connected(5)
    revocations().caught_up.wait(10)


# Prometheus multi-process mode: every worker writes its samples here (see gateway/metrics.py).
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="wenzhen-gateway-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
