"""Run one Wenzhen service: ``python -m services <name>`` (or a part of it that its ``service.py`` lists as a
deployable: ``python -m services intake --only desk``, ``--without desk``).

Applies eventlet's monkey patching first (as ``nameko run`` does), then
configures Nameko from the environment (``wenzhen.config``) and runs the
service class found in ``services/<name>/service.py``.
"""
from __future__ import annotations

import eventlet  # noqa: E402

import wenzhen  # noqa: F401 - silences eventlet's deprecation banner

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import sys  # noqa: E402

from nameko import config as nameko_config  # noqa: E402
from nameko.cli.run import run  # noqa: E402

from wenzhen import logs  # noqa: E402
from wenzhen.config import SERVICES, settings  # noqa: E402


def nameko_settings(service: str) -> dict:
    cfg = settings()
    return {
        "AMQP_URI": cfg.amqp_uri,
        "max_workers": cfg.service_max_workers,
        "serializer": "json",
        "HEARTBEAT": 30,
        "LOGGING": logs.logging_config(service, cfg.log_level),
    }


def service_path(service: str, part: tuple[str, str] | None = None) -> str:
    from services import service_class

    cls = service_class(service, part)
    return f"{cls.__module__}:{cls.__name__}"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    part = tuple(argv[1:]) if len(argv) == 3 and argv[1] in ("--only", "--without") else None
    if not argv or argv[0] not in SERVICES or (len(argv) != 1 and part is None):
        sys.exit(f"usage: python -m services <{'|'.join(SERVICES)}> [--only <part> | --without <part>]")
    service = argv[0]
    nameko_config.setup(nameko_settings(service))
    logs.setup(service, settings().log_level)
    run([service_path(service, (part[0].removeprefix("--"), part[1]) if part else None)])


if __name__ == "__main__":
    main()
