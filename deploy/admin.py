"""The first admin account: ``make admin`` (``python -m deploy.admin [--username admin] [--name 管理员]``).

Talks to identity over the broker (``AMQP_URI``) and works once: when an admin
exists, further accounts are created by admins through ``POST /v1/staff``. Prints
the one-time activation code; the person activates at ``POST /v1/auth/activate``
(setting a password and enrolling an authenticator app). Refused because an admin
exists, it says what to do instead: `make demo` on an empty database makes the
first admin itself and keeps its credentials in ``var/demo-admin.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wenzhen.config import settings
from wenzhen.rpc_client import RemoteError, RpcClient, RpcError

DEMO_ADMIN_FILE = Path(__file__).resolve().parent.parent / "var" / "demo-admin.json"  # `make demo` keeps its admin



def bootstrap(amqp_uri: str, username: str, name: str) -> dict:
    client = RpcClient(amqp_uri, timeout=15, name="admin-bootstrap")
    try:
        return client.call("identity", "bootstrap_admin", username, name)
    finally:
        client.close()


def refusal_advice(exc: RemoteError, demo_file: Path | None = None) -> str:
    """What to tell the person whose ``make admin`` was refused."""
    demo_file = demo_file or DEMO_ADMIN_FILE
    detail = exc.exc_args[0].get("detail") if exc.exc_args and isinstance(exc.exc_args[0], dict) else exc.value
    if exc.exc_type != "Conflict":  # not "an admin exists": say what identity said
        return f"not created: {detail}"
    shown = demo_file.relative_to(Path.cwd()) if demo_file.is_relative_to(Path.cwd()) else demo_file
    if demo_file.exists():
        return (f"not created: {detail}\n"
                f"The demo created the first admin; its credentials are in {shown} (mode 0600: username, password, "
                "totp_secret).\nSign in with them (POST /v1/auth/login, then POST /v1/auth/mfa with the current code "
                "of totp_secret),\nthen create staff with POST /v1/staff (an admin among them, if you want your "
                "own).")
    return (f"not created: {detail}\n"
            "An admin exists: ask them to create your account with POST /v1/staff. (Only an empty database takes a "
            "first admin: `make stop; rm -rf var/db; make run` starts over, losing all data.)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make admin", description=__doc__.splitlines()[0])
    parser.add_argument("--username", default="admin")
    parser.add_argument("--name", default="系统管理员")
    args = parser.parse_args(argv)
    try:
        admin = bootstrap(settings().amqp_uri, args.username, args.name)
    except RemoteError as exc:
        print(refusal_advice(exc))
        return 1
    except RpcError as exc:
        print(f"identity did not answer ({exc}); is the system running (`make run`)?")
        return 1
    cfg = settings()
    print(f"Admin account {admin['username']} created ({admin['id']}).\n"
          f"  activation code  {admin['activation_code']}  (valid until {admin['activation_expires_at']})\n"
          f"Activate it: POST http://{cfg.gateway_host}:{cfg.gateway_port}/v1/auth/activate with username, "
          "activation_code and a password;\nadd the returned secret to an authenticator app and send its first "
          "code to POST /v1/auth/mfa.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
