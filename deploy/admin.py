"""The first admin account: ``make admin`` (``python -m deploy.admin [--username admin] [--name 管理员]``).

Talks to identity over the broker (``AMQP_URI``) and works once: when an admin
exists, further accounts are created by admins through ``POST /v1/staff``. Prints
the one-time activation code; the person activates at ``POST /v1/auth/activate``
(setting a password and enrolling an authenticator app).
"""
from __future__ import annotations

import argparse
import sys

from wenzhen.config import settings
from wenzhen.rpc_client import RemoteError, RpcClient, RpcError


def bootstrap(amqp_uri: str, username: str, name: str) -> dict:
    client = RpcClient(amqp_uri, timeout=15, name="admin-bootstrap")
    try:
        return client.call("identity", "bootstrap_admin", username, name)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make admin", description=__doc__.splitlines()[0])
    parser.add_argument("--username", default="admin")
    parser.add_argument("--name", default="系统管理员")
    args = parser.parse_args(argv)
    try:
        admin = bootstrap(settings().amqp_uri, args.username, args.name)
    except RemoteError as exc:
        detail = exc.exc_args[0].get("detail") if exc.exc_args and isinstance(exc.exc_args[0], dict) else exc.value
        print(f"not created: {detail}")
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
