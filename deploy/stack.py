"""The local stack: broker check, embedded database, topology, the seven
services and the gateway, supervised as child processes.

``python -m deploy.stack run``  – start everything, wait for /readyz, print the URLs,
                                   stay in the foreground (Ctrl-C stops all);
``python -m deploy.stack stop`` – stop a stack started elsewhere (``make stop``).

The tests use :class:`Stack` to run the same processes in isolation (own
vhost, own data directory, own ports).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from pymongo import MongoClient

from wenzhen.config import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mongo_answers(uri: str, timeout_ms: int = 1500) -> bool:
    client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False
    finally:
        client.close()


# Which secrets each process gets (least privilege): only identity can sign tokens, the gateway can only verify
# them and holds no data key, and the database and the broker tooling get none.
DATA_SECRETS = ("WENZHEN_DATA_KEYS", "WENZHEN_DATA_KEY_ID", "WENZHEN_INDEX_KEY", "WENZHEN_AUDIT_KEY")
SIGNING_SECRETS = ("WENZHEN_JWT_KEYS", "WENZHEN_JWT_KEY_ID")
VERIFYING_SECRETS = ("WENZHEN_JWT_PUBLIC_KEYS",)
SECRETS = (*DATA_SECRETS, *SIGNING_SECRETS, *VERIFYING_SECRETS)


def secrets_for(process: str) -> tuple[str, ...]:
    if process == "gateway":
        return VERIFYING_SECRETS
    if process == "identity":
        return (*DATA_SECRETS, *SIGNING_SECRETS)
    if process in SERVICES:
        return DATA_SECRETS
    return ()


def development_secrets() -> dict[str, str]:
    """A complete set of fresh keys (data, blind index, audit chain, token signing) as environment variables."""
    from wenzhen.crypto import new_key, new_key_settings
    from wenzhen.tokens import new_signing_settings

    return {**new_key_settings(), "WENZHEN_AUDIT_KEY": new_key(), **new_signing_settings("dev1")}


def local_keys(path: Path) -> dict[str, str]:
    """Development keys, made once and kept (0600) next to the data they protect; a key added by a newer
    version is appended. Production sets them from its secret store (see the README's table)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    have = {k: v for k, v in pairs}
    fresh = development_secrets()
    missing = {k: v for k, v in fresh.items() if k not in have}
    if set(missing) & set(SIGNING_SECRETS + VERIFYING_SECRETS):  # a key pair is made together
        missing.update({k: fresh[k] for k in SIGNING_SECRETS + VERIFYING_SECRETS})
    if missing:
        with path.open("a") as out:
            out.write("".join(f"{k}={v}\n" for k, v in missing.items()))
    return {**have, **missing}


class Stack:
    def __init__(self, env: dict[str, str], var: Path, say=print):
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.var = var
        var.mkdir(parents=True, exist_ok=True)
        if not all(self.env.get(name) for name in SECRETS):
            self.env.update(local_keys(var / "secrets.env"))
        self.env.setdefault("SMS_SINK_FILE", str(var / "sms.jsonl"))
        self.logs = var / "log"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.say = say
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, tuple[list[str], dict[str, str] | None, str | None]] = {}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    # processes -----------------------------------------------------------
    def process_env(self, process: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
        granted = secrets_for(process)
        env = {k: v for k, v in self.env.items() if k not in SECRETS or k in granted}
        return {**env, **(extra_env or {})}

    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None,
              process: str | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.process_env(process or name, extra_env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        self.argv[name] = (argv, extra_env, process)
        return proc

    def respawn(self, name: str) -> subprocess.Popen:
        """Start ``name`` again exactly as it was started."""
        argv, extra_env, process = self.argv[name]
        return self.spawn(name, argv, extra_env, process)

    def start_database(self, port: int, data_dir: Path) -> str:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.spawn("secantusdb", [str(Path(sys.executable).parent / "secantusd-py"), "--storage-path", str(data_dir),
                                  "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"])
        uri = f"mongodb://127.0.0.1:{port}/?replicaSet=secantus"
        deadline = time.monotonic() + 60
        while not mongo_answers(uri):
            if self.procs["secantusdb"].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"SecantusDB did not start; see {self.logs / 'secantusdb.log'}")
            time.sleep(0.3)
        return uri

    def start_system(self, database: tuple[int, Path] | None = None, ready_timeout: float = 90.0) -> dict:
        """The embedded database (given a port and data directory), the broker topology, the seven
        services and the gateway; returns /readyz once everything answers."""
        if database:
            self.env["MONGO_URI"] = self.start_database(*database)
            self.say(f"SecantusDB on :{database[0]}, data in {database[1]}")
        self.declare_topology()
        self.say("broker topology declared (exchanges, durable queues)")
        for name in SERVICES:
            self.start_service(name)
        self.say(f"services starting: {', '.join(SERVICES)} (logs in {self.logs})")
        self.start_gateway()
        ready = self.wait_ready(ready_timeout)
        self.say(f"all {len(ready['services'])} services ready")
        return ready

    def declare_topology(self) -> None:
        subprocess.run([sys.executable, "-m", "deploy.topology"], cwd=ROOT, env=self.process_env("topology"),
                       check=True, stdout=subprocess.DEVNULL)

    def start_service(self, name: str, extra_env: dict[str, str] | None = None, label: str | None = None):
        return self.spawn(label or name, [sys.executable, "-m", "services", name], extra_env, process=name)

    def start_gateway(self) -> subprocess.Popen:
        return self.spawn("gateway", [str(Path(sys.executable).parent / "gunicorn"), "-c",
                                      str(ROOT / "gateway" / "gunicorn.conf.py"), "gateway.app:app"])

    def gateway_url(self) -> str:
        cfg = self.settings
        return f"http://{cfg.gateway_host}:{cfg.gateway_port}"

    def wait_ready(self, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with {proc.returncode}; see {self.logs / (name + '.log')}")
            try:
                with urllib.request.urlopen(self.gateway_url() + "/readyz", timeout=5) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                body = json.loads(exc.read() or b"{}")
            except OSError:
                pass
            time.sleep(0.5)
        down = [n for n, c in body.get("services", {}).items() if c.get("state") != "up"]
        raise SystemExit(f"not ready after {timeout:.0f}s; down: {', '.join(down) or 'gateway'}")

    def stop(self, name: str, kill: bool = False, timeout: float = 15.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        # gateway first, the database last
        order = ["gateway", *[n for n in self.procs if n not in ("gateway", "secantusdb")], "secantusdb"]
        for name in order:
            if name in self.procs:
                self.stop(name)


# the `make run` front end -------------------------------------------------
PIDFILE = ROOT / "var" / "run" / "stack.pid"


def run() -> None:
    from deploy import broker

    cfg = Settings.from_env()
    var = ROOT / "var"
    step = lambda text: print(f"  • {text}", flush=True)  # noqa: E731
    stack = Stack({}, var, say=step)
    print("Starting Wenzhen", flush=True)
    PIDFILE.parent.mkdir(parents=True, exist_ok=True)
    PIDFILE.write_text(str(os.getpid()))

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        broker.ensure(cfg.amqp_uri, say=step)
        step(f"RabbitMQ: {broker.redact(cfg.amqp_uri)}")
        database = None
        if os.environ.get("MONGO_URI"):
            if not mongo_answers(cfg.mongo_uri, 10_000):
                raise SystemExit("MONGO_URI does not answer; check it (a replica set is needed for transactions).")
            step("MongoDB: MONGO_URI (given)")
        else:
            port = urlsplit(cfg.mongo_uri.replace("mongodb://", "http://", 1)).port or 27017
            if mongo_answers(cfg.mongo_uri):
                step(f"MongoDB-wire server already answering on :{port}; using it")
            else:
                database = (port, var / "db")
        stack.start_system(database)
        url = stack.gateway_url()
        print(f"\nWenzhen is up.\n  API        {url}/v1\n  Docs       {url}/docs\n  OpenAPI    {url}/openapi.json"
              f"\n  Readiness  {url}/readyz\n  Logs       var/log/*.log\nCtrl-C (or `make stop`) stops it.",
              flush=True)
        supervise(stack)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping Wenzhen…", flush=True)
        stack.stop_all()
        PIDFILE.unlink(missing_ok=True)
        print("stopped; data kept in var/", flush=True)


def supervise(stack: Stack) -> None:
    """Restart a child that dies (at most 5 times a minute each)."""
    restarts: dict[str, list[float]] = {}
    while True:
        time.sleep(1)
        for name, proc in list(stack.procs.items()):
            if proc.poll() is None:
                continue
            recent = [t for t in restarts.get(name, []) if t > time.monotonic() - 60]
            if len(recent) >= 5:
                raise SystemExit(f"{name} keeps exiting; see var/log/{name}.log")
            print(f"  ! {name} exited with {proc.returncode}; restarting", flush=True)
            restarts[name] = [*recent, time.monotonic()]
            stack.respawn(name)


def stop() -> None:
    if not PIDFILE.exists():
        print("no running stack (var/run/stack.pid is absent)")
        return
    pid = int(PIDFILE.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        PIDFILE.unlink(missing_ok=True)
        print("the stack was not running")
        return
    for _ in range(60):
        if not PIDFILE.exists():
            print("stopped")
            return
        time.sleep(0.5)
    print(f"still stopping (pid {pid})")


if __name__ == "__main__":
    {"run": run, "stop": stop}[sys.argv[1] if len(sys.argv) > 1 else "run"]()
