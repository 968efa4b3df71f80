"""The local stack: broker check, embedded database, topology, the sandbox courier (unless ``COURIER_URL`` names a
real one), the services and the gateway, supervised as child processes.

``python -m deploy.stack run``  – start everything, wait for /readyz, print the URLs,
                                   stay in the foreground (Ctrl-C stops all);
``python -m deploy.stack stop`` – stop a stack started elsewhere (``make stop``).

The tests use :class:`Stack` to run the same processes in isolation (own
vhost, own data directory, own ports).

Children do not outlive their supervisor: on Linux each is started with a parent-death signal (SIGTERM), and
each carries ``WENZHEN_STACK_VAR`` (the stack's data directory) so that a later ``make run`` recognises the
leftovers of a supervisor that was killed outright (``kill -9``) and ends them before it starts anything.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from pymongo import MongoClient

from wenzhen.config import SERVICES, Settings, embedded_uri

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
# the courier's check word signs our requests and its pushes: the pharmacy and the sandbox courier hold it, no other
COURIER_SECRETS = ("COURIER_CHECK_WORD",)
PROCESS_SECRETS = (*SECRETS, *COURIER_SECRETS)  # what a process gets only if secrets_for names it

# the sandbox courier (deploy/sandbox_courier.py), started when COURIER_URL names no real courier
COURIER_SANDBOX = "courier-sandbox"
COURIER_SANDBOX_PORT = 8791  # `make run`'s; COURIER_SANDBOX_PORT overrides it (the tests: a free port)
COURIER_PUSH_PATH = "/v1/courier/route-pushes"  # the gateway's route that takes the courier's route pushes


def secrets_for(process: str) -> tuple[str, ...]:
    if process == "gateway":
        return VERIFYING_SECRETS
    if process == "identity":
        return (*DATA_SECRETS, *SIGNING_SECRETS)
    if process == "pharmacy":
        return (*DATA_SECRETS, *COURIER_SECRETS)
    if process in SERVICES:
        return DATA_SECRETS
    if process == COURIER_SANDBOX:
        return COURIER_SECRETS
    return ()


def development_secrets() -> dict[str, str]:
    """A complete set of fresh keys (data, blind index, audit chain, token signing, the sandbox courier's check
    word) as environment variables."""
    from wenzhen.crypto import new_key, new_key_settings
    from wenzhen.tokens import new_signing_settings

    return {**new_key_settings(), "WENZHEN_AUDIT_KEY": new_key(), **new_signing_settings("dev1"),
            "COURIER_CHECK_WORD": secrets.token_urlsafe(24)}


def local_keys(path: Path, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Development keys, made once and kept (0600) next to the data they protect; a key added by a newer
    version is appended (only ``names``, when given). Production sets them from its secret store (see the
    README's table)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    have = {k: v for k, v in pairs}
    fresh = development_secrets()
    missing = {k: v for k, v in fresh.items() if k not in have and (names is None or k in names)}
    if set(missing) & set(SIGNING_SECRETS + VERIFYING_SECRETS):  # a key pair is made together
        missing.update({k: fresh[k] for k in SIGNING_SECRETS + VERIFYING_SECRETS})
    if missing:
        with path.open("a") as out:
            out.write("".join(f"{k}={v}\n" for k, v in missing.items()))
    return {**have, **missing}


# children die with their supervisor ------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STACK_VAR = "WENZHEN_STACK_VAR"  # in every child's environment: the data directory of the stack that started it
_prctl = None


def parent_death_signal():
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies (Linux; else ``None``).

    The kernel sends it when the *thread* that forked the child ends, so it is only set for children started
    from the main thread (``make run``'s supervisor and pytest's fixtures are); a child started from another
    thread would otherwise be killed when that thread finishes."""
    global _prctl
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child runs no imports or lookups
        except (OSError, AttributeError):
            _prctl = False
    if not _prctl:
        return None
    prctl, parent = _prctl, os.getpid()
    option, signum, zero = ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0)

    def preexec() -> None:
        prctl(option, signum, zero, zero, zero)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


# processes, as /proc shows them (Linux) ----------------------------------------------------------------------
def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time in clock ticks) of ``pid``, or None if there is none."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # the name may hold spaces and parentheses; fields from 3 on
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19])


def proc_cmdline(pid: int) -> list[str]:
    raw = _read(f"/proc/{pid}/cmdline") or b""
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def proc_environ(pid: int) -> dict[str, str]:
    raw = _read(f"/proc/{pid}/environ") or b""
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return dict(pairs)


def proc_cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


HAVE_PROC = os.path.isdir("/proc/self")


def alive(pid: int, started: int | None = None) -> bool:
    """``pid`` exists, is not a zombie, and (if given) is the process that started at ``started``."""
    if not HAVE_PROC:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z" and (started is None or stat[3] == started)


def all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for other in all_pids():
        stat = proc_stat(other)
        if stat:
            children.setdefault(stat[1], []).append(other)
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.add(current)
            todo.extend(children.get(current, ()))
    return tree


def listener_pids(port: int) -> set[int] | None:
    """The processes holding a listening TCP socket on ``port`` (any address), or None where /proc cannot say."""
    inodes, readable = set(), False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        raw = _read(table)
        if raw is None:
            continue
        readable = True
        for line in raw.decode().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    if not readable:
        return None
    wanted, holders = {f"socket:[{inode}]" for inode in inodes}, set()
    for pid in all_pids() if wanted else ():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    holders.add(pid)
                    break
            except OSError:
                continue
    return holders


def ensure_port_free(host: str, port: int, what: str = "the gateway's address", setting: str = "GATEWAY_PORT") -> None:
    """Exit with a clear message if ``host:port`` is taken (a gateway or a sandbox that cannot bind would leave
    whatever does listen there answering its health check)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is no obstacle
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            holders = ", ".join(f"pid {pid} ({' '.join(proc_cmdline(pid))[:80]})"
                                for pid in sorted(listener_pids(port) or ()))
            raise SystemExit(f"port {port} ({host}:{port}, {what}) is already in use"
                             f"{' by ' + holders if holders else ''}; stop what listens there or set {setting}"
                             ) from None


# the command lines a stack starts (see Stack.start_service, start_gateway, start_database, start_courier_sandbox)
def is_stack_command(argv: list[str], var: Path) -> bool:
    if any(argv[i:i + 2] == ["-m", "services"] for i in range(len(argv) - 2)):
        return True
    if any(argv[i:i + 2] == ["-m", "deploy.sandbox_courier"] for i in range(len(argv) - 1)):
        return True
    names = [Path(a).name for a in argv[:2]]
    if "gunicorn" in names and "gateway.app:app" in argv:
        return True
    if argv and argv[0].startswith("gunicorn: ") and "wenzhen-gateway" in argv[0]:  # with setproctitle
        return True
    if "secantusd-py" in names and "--storage-path" in argv[:-1]:
        storage = Path(argv[argv.index("--storage-path") + 1])
        return storage == var or var in storage.parents
    return False


def stack_leftovers(var: Path, root: Path = ROOT) -> dict[int, tuple[str, int, int, int]]:
    """The live processes started by a Stack whose data directory is ``var`` (from ``root``) whose supervisor is
    gone: cwd is ``root``, the command line is one a stack starts, and the environment names ``var``
    (``WENZHEN_STACK_VAR``; before it existed: the SMS sink in ``var``). Returns pid → /proc stat."""
    var, own = var.resolve(), os.getpid()
    found: dict[int, tuple[str, int, int, int]] = {}
    for pid in all_pids():
        if pid == own or proc_cwd(pid) != str(root):
            continue
        stat = proc_stat(pid)
        if stat is None or stat[0] == "Z" or not is_stack_command(proc_cmdline(pid), var):
            continue
        env = proc_environ(pid)
        legacy = STACK_VAR not in env and env.get("SMS_SINK_FILE") == str(var / "sms.jsonl")  # before the marker
        if env.get(STACK_VAR) == str(var) or legacy:
            found[pid] = stat
    for pid in list(found):  # one whose supervisor still lives is not a leftover
        parent = found[pid][1]
        while parent in found:
            parent = found[parent][1]
        if "deploy.stack" in proc_cmdline(parent):
            del found[pid]
    return found


def end_processes(found: dict[int, tuple[str, int, int, int]], timeout: float = 15.0) -> int:
    """SIGTERM each of ``found`` (with its process group, if it leads one), wait, then SIGKILL what is left.
    Returns how many still live (0 unless something ignores SIGKILL)."""
    own_group = os.getpgrp()

    def left() -> list[int]:
        return [pid for pid, stat in found.items() if alive(pid, stat[3])]

    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in left():
            group = found[pid][2]
            try:
                if group == pid and group != own_group:
                    os.killpg(group, signum)
                else:
                    os.kill(pid, signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while left() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not left():
            return 0
    return len(left())


class Stack:
    def __init__(self, env: dict[str, str], var: Path, say=print):
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                    STACK_VAR: str(var.resolve())}
        self.var = var
        var.mkdir(parents=True, exist_ok=True)
        if not all(self.env.get(name) for name in SECRETS):
            keys = local_keys(var / "secrets.env")
            self.env.update({k: v for k, v in keys.items() if k in SECRETS})  # the check word: below
        self.env.setdefault("SMS_SINK_FILE", str(var / "sms.jsonl"))
        # the courier: a real one when COURIER_URL is given (and its partner id and check word with it), else the
        # sandbox courier on COURIER_SANDBOX_PORT, with a development check word kept in secrets.env
        self.courier_sandbox = not self.env.get("COURIER_URL")
        if not self.env.get("COURIER_PARTNER_ID"):
            self.env["COURIER_PARTNER_ID"] = "WENZHEN_DEV"
        if self.courier_sandbox:
            port = int(self.env.get("COURIER_SANDBOX_PORT") or COURIER_SANDBOX_PORT)
            self.env["COURIER_SANDBOX_PORT"] = str(port)
            self.env["COURIER_URL"] = f"http://127.0.0.1:{port}/std/service"
            if not self.env.get("COURIER_CHECK_WORD"):
                self.env["COURIER_CHECK_WORD"] = local_keys(var / "secrets.env", COURIER_SECRETS)["COURIER_CHECK_WORD"]
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
        env = {k: v for k, v in self.env.items() if k not in PROCESS_SECRETS or k in granted}
        return {**env, **(extra_env or {})}

    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None,
              process: str | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.process_env(process or name, extra_env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=parent_death_signal())
        log.close()
        self.procs[name] = proc
        self.argv[name] = (argv, extra_env, process)
        return proc

    def respawn(self, name: str) -> subprocess.Popen:
        """Start ``name`` again exactly as it was started."""
        argv, extra_env, process = self.argv[name]
        return self.spawn(name, argv, extra_env, process)

    def start_database(self, port: int, data_dir: Path) -> str:
        """SecantusDB on ``port`` (its own process); the URI the services use for it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.spawn("secantusdb", [str(Path(sys.executable).parent / "secantusd-py"), "--storage-path", str(data_dir),
                                  "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"])
        uri = embedded_uri(port)
        deadline = time.monotonic() + 60
        while not mongo_answers(uri):
            if self.procs["secantusdb"].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"SecantusDB did not start; see {self.logs / 'secantusdb.log'}")
            time.sleep(0.3)
        return uri

    def start_system(self, database: tuple[int, Path] | None = None, ready_timeout: float = 90.0) -> dict:
        """The embedded database (given a port and data directory), the broker topology, the sandbox courier
        (unless a real one is configured), the services and the gateway; returns /readyz once everything
        answers."""
        if database:
            self.env["MONGO_URI"] = self.start_database(*database)
            self.say(f"SecantusDB on :{database[0]}, data in {database[1]}")
        self.declare_topology()
        self.say("broker topology declared (exchanges, durable queues)")
        if self.courier_sandbox:
            self.start_courier_sandbox()
            self.say(f"sandbox courier on :{self.env['COURIER_SANDBOX_PORT']} (pushes to the gateway)")
        else:
            self.say("courier: COURIER_URL (given)")
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

    def start_courier_sandbox(self, timeout: float = 20.0) -> subprocess.Popen:
        """The sandbox courier (its own process), its route pushes to the gateway; waits until it answers."""
        port = int(self.env["COURIER_SANDBOX_PORT"])
        # a stranger on the port would answer the health check in its place
        ensure_port_free("127.0.0.1", port, "the sandbox courier's", "COURIER_SANDBOX_PORT")
        proc = self.spawn(COURIER_SANDBOX, [
            sys.executable, "-m", "deploy.sandbox_courier", "--port", str(port),
            "--push-url", self.gateway_url() + COURIER_PUSH_PATH, "--partner-id", self.env["COURIER_PARTNER_ID"],
            "--step-seconds", self.env.get("COURIER_SANDBOX_STEP_SECONDS") or "2.0",
            "--state-file", str(self.var.resolve() / "courier-sandbox.json")])  # the check word: its environment
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox courier did not start; see {self.logs / (COURIER_SANDBOX + '.log')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    if json.loads(resp.read()).get("status") == "up":
                        return proc
            except (OSError, ValueError):
                pass
            time.sleep(0.2)

    def start_service(self, name: str, extra_env: dict[str, str] | None = None, label: str | None = None):
        return self.spawn(label or name, [sys.executable, "-m", "services", name], extra_env, process=name)

    def start_gateway(self) -> subprocess.Popen:
        cfg = self.settings
        ensure_port_free(cfg.gateway_host, cfg.gateway_port)
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
                    answer = json.loads(resp.read())
                self.check_gateway_is_ours()
                return answer
            except urllib.error.HTTPError as exc:
                self.check_gateway_is_ours()
                body = json.loads(exc.read() or b"{}")
            except OSError:
                pass
            time.sleep(0.5)
        down = [n for n, c in body.get("services", {}).items() if c.get("state") != "up"]
        raise SystemExit(f"not ready after {timeout:.0f}s; down: {', '.join(down) or 'gateway'}")

    def check_gateway_is_ours(self) -> None:
        """What answered on the gateway's port must be this stack's gateway (its gunicorn or a worker of it):
        the listening socket on the port is looked up in /proc. Where that is impossible (not Linux) the bind
        check before the start stands alone."""
        cfg = self.settings
        gateway = self.procs.get("gateway")
        holders = listener_pids(cfg.gateway_port)
        if holders is None:
            return
        if gateway is not None and gateway.poll() is None and holders & process_tree(gateway.pid):
            return
        others = ", ".join(f"pid {pid} ({' '.join(proc_cmdline(pid))[:80]})" for pid in sorted(holders))
        raise SystemExit(f"{cfg.gateway_host}:{cfg.gateway_port} is answered by a process that is not this "
                         f"stack's gateway ({others or 'not visible here'}); not reporting ready. Stop it or set "
                         "GATEWAY_PORT.")

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
LOCKFILE = ROOT / "var" / "run" / "stack.lock"  # held (flock) by the running supervisor; a killed one lets go


def running_supervisor(pidfile: Path = PIDFILE, root: Path = ROOT) -> int | None:
    """The pid in ``pidfile`` if it is a live ``python -m deploy.stack run`` of the checkout ``root`` (not a
    stale file, nor a pid the system has since given to another process)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid() or not alive(pid):
        return None
    if not HAVE_PROC:  # nothing to check the pid against
        return pid
    argv = proc_cmdline(pid)
    if "deploy.stack" not in argv or argv[-1] not in ("run", "deploy.stack") or proc_cwd(pid) != str(root):
        return None
    return pid


def claim(pidfile: Path = PIDFILE, lockfile: Path = LOCKFILE, root: Path = ROOT) -> int:
    """Become this checkout's one supervisor, or exit saying which one already is. Returns the lock's fd (keep
    it open: the lock lasts as long as the process)."""
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        pid = running_supervisor(pidfile, root)  # one started before the lock existed
    except BlockingIOError:
        pid = running_supervisor(pidfile, root) or "?"
    if pid:
        os.close(fd)
        raise SystemExit(f"Wenzhen is already running (pid {pid}); `make stop` first")
    pidfile.write_text(str(os.getpid()))
    return fd


def end_leftovers(var: Path, say) -> None:
    """End what a supervisor that was killed (``kill -9``: no clean-up ran) left running from ``var``."""
    leftovers = stack_leftovers(var)
    if not leftovers:
        return
    pids = ",".join(map(str, sorted(leftovers)))
    still = end_processes(leftovers)
    if still:
        raise SystemExit(f"{still} processes left over by a stack that was killed would not end; see `ps -p {pids}`")
    say(f"ended {len(leftovers)} processes left over by a stack that was killed (pids {pids})")


def run() -> None:
    from deploy import broker

    cfg = Settings.from_env()
    var = ROOT / "var"
    step = lambda text: print(f"  • {text}", flush=True)  # noqa: E731
    print("Starting Wenzhen", flush=True)
    _lock = claim()  # held until the process ends; before the try: a refusal keeps the other's pid file
    stack = Stack({}, var, say=step)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        end_leftovers(var, step)  # before the database check: a leftover SecantusDB of ours is not "already there"
        ensure_port_free(cfg.gateway_host, cfg.gateway_port)
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
    pid = running_supervisor()
    if pid is None:
        print("no running stack (var/run/stack.pid is absent)" if not PIDFILE.exists() else
              "the stack was not running")
        PIDFILE.unlink(missing_ok=True)
        end_leftovers(ROOT / "var", print)
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        if not PIDFILE.exists():
            print("stopped")
            return
        time.sleep(0.5)
    print(f"still stopping (pid {pid})")


if __name__ == "__main__":
    {"run": run, "stop": stop}[sys.argv[1] if len(sys.argv) > 1 else "run"]()
