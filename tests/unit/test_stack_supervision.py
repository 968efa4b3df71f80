"""`make run`'s supervisor (deploy/stack.py): its children die with it, a later start finds and ends what a
killed one left behind, and it never reports ready for a process that is not its own (issue 10, item 11).

Real processes (plain Pythons that sleep), no servers; Linux /proc."""
from __future__ import annotations

import http.server
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deploy.stack import (
    ROOT,
    SECRETS,
    STACK_VAR,
    Stack,
    alive,
    claim,
    end_processes,
    ensure_port_free,
    free_port,
    stack_leftovers,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SLEEP = "import time; time.sleep(60)"
KEYS = {name: "unused" for name in SECRETS}  # no development keys made for these stacks


@pytest.fixture
def procs():
    """Processes a test starts; whatever still lives at the end is killed."""
    started: list[int] = []
    yield started
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(procs, argv, var: Path | None, cwd: Path = ROOT) -> subprocess.Popen:
    env = {**os.environ, **({STACK_VAR: str(var.resolve())} if var else {})}
    proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
    procs.append(proc.pid)
    return proc


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def read_line(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the supervisor did not report its child"
    return proc.stdout.readline().decode().strip()


SUPERVISOR = f"""
import sys, time
from pathlib import Path
from deploy.stack import Stack
stack = Stack({KEYS!r}, Path(sys.argv[1]), say=lambda *_: None)
print(stack.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"]).pid, flush=True)
time.sleep(600)
"""


def test_children_die_with_a_supervisor_killed_outright(tmp_path, procs):
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
    procs.append(supervisor.pid)
    child = int(read_line(supervisor))
    procs.append(child)
    assert alive(child)

    supervisor.kill()
    supervisor.wait()

    assert gone_within(child, 5), "the child outlived its supervisor"


def test_the_leftover_finder_knows_this_checkouts_processes_and_no_others(tmp_path, procs):
    var, other = tmp_path / "var", tmp_path / "other"
    fake_db = ["bash", "-c", f'exec -a "$0" {sys.executable} -c "{SLEEP}" --storage-path "$1"',
               str(ROOT / ".venv" / "bin" / "secantusd-py"), str(var / "db")]
    service = start(procs, [sys.executable, "-c", SLEEP, "-m", "services", "nosuch"], var)
    database = start(procs, fake_db, var)
    strangers = [
        start(procs, [sys.executable, "-c", SLEEP, "-m", "services", "nosuch"], other),  # another stack's
        start(procs, [sys.executable, "-c", SLEEP, "-m", "services", "nosuch"], var, cwd=tmp_path),  # elsewhere
        start(procs, [sys.executable, "-c", SLEEP], var),  # not a command a stack starts
        start(procs, [sys.executable, "-c", SLEEP, "-m", "services", "nosuch"], None),  # no stack's environment
    ]
    deadline = time.monotonic() + 5
    while set(stack_leftovers(var)) != {service.pid, database.pid} and time.monotonic() < deadline:
        time.sleep(0.05)  # bash's exec of the database
    found = stack_leftovers(var)
    assert set(found) == {service.pid, database.pid}

    assert end_processes(found) == 0
    assert not alive(service.pid) and not alive(database.pid)
    assert all(alive(p.pid) for p in strangers)


def test_the_children_of_a_live_supervisor_are_not_leftovers(tmp_path, procs):
    var = tmp_path / "var"
    code = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {SLEEP!r}, '-m', 'services', "
            "'nosuch']); print(p.pid, flush=True); time.sleep(60)")
    supervisor = subprocess.Popen([sys.executable, "-c", code, "-m", "deploy.stack", "run"], cwd=ROOT,
                                  env={**os.environ, STACK_VAR: str(var.resolve())}, stdout=subprocess.PIPE)
    procs.append(supervisor.pid)
    child = int(read_line(supervisor))
    procs.append(child)
    assert child not in stack_leftovers(var)

    supervisor.kill()
    supervisor.wait()
    assert alive(child)  # a plain child: nothing asked it to die with its parent
    deadline = time.monotonic() + 5
    while child not in stack_leftovers(var) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child in stack_leftovers(var)


def test_a_second_supervisor_refuses_to_start(tmp_path, procs):
    pidfile, lockfile = tmp_path / "stack.pid", tmp_path / "stack.lock"
    fd = claim(pidfile, lockfile)
    try:
        assert pidfile.read_text() == str(os.getpid())
        with pytest.raises(SystemExit, match=r"already running .*`make stop` first"):
            claim(tmp_path / "stack.pid", lockfile)  # the lock is held (flock: per open file, even in one process)
    finally:
        os.close(fd)

    # a supervisor from before the lock: its pid file names a live `python -m deploy.stack run` of this checkout
    older = start(procs, [sys.executable, "-c", SLEEP, "-m", "deploy.stack", "run"], None)
    pidfile.write_text(str(older.pid))
    with pytest.raises(SystemExit, match=rf"Wenzhen is already running \(pid {older.pid}\); `make stop` first"):
        claim(pidfile, lockfile)

    older.kill()
    older.wait()
    os.close(claim(pidfile, lockfile))  # a stale pid file is no obstacle
    assert pidfile.read_text() == str(os.getpid())


def test_the_gateway_is_not_started_on_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=rf"port {port} .*in use"):
            ensure_port_free("127.0.0.1", port)
        stack = Stack({**KEYS, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}, tmp_path)
        with pytest.raises(SystemExit, match=rf"port {port} "):
            stack.start_gateway()
        assert "gateway" not in stack.procs
    ensure_port_free("127.0.0.1", port)


class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"services": {}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


GATEWAY = """
import http.server, sys
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "16")
        self.end_headers()
        self.wfile.write(b'{"services": {}}')
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
"""


def test_ready_is_not_reported_for_a_gateway_that_is_not_ours(tmp_path):
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    port = foreign.server_address[1]
    stack = Stack({**KEYS, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}, tmp_path)
    try:
        stack.spawn("gateway", [sys.executable, "-c", SLEEP])  # ours lives but is not the one answering
        with pytest.raises(SystemExit, match=rf"127.0.0.1:{port} is answered by .* not this stack's gateway"):
            stack.wait_ready(10)
    finally:
        stack.stop_all()
        foreign.shutdown()
        foreign.server_close()

    port = free_port()
    stack = Stack({**KEYS, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}, tmp_path)
    try:
        stack.spawn("gateway", [sys.executable, "-c", GATEWAY, str(port)])
        assert stack.wait_ready(10) == {"services": {}}
    finally:
        stack.stop_all()
