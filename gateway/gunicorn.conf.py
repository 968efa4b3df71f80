"""gunicorn settings for the gateway, from the environment (see the README's table)."""
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
proc_name = "wenzhen-gateway"


def post_worker_init(worker):
    """Connect the worker's RPC client before it takes its first request."""
    from gateway import rpc

    rpc.client().wait_connected(5)
