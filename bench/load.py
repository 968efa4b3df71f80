"""HTTP load generation: ``wrk`` when there is one (as root it is installed from Debian's
packages), else a threaded ``http.client`` fallback. Both keep their connections alive,
send the workload's bearer token, run for a fixed time and report requests/s, p50, p99
and errors.

``BENCH_LOAD_TOOL=python`` forces the fallback (``wrk`` forces wrk).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from bench.booking import book_body

LUA = Path(__file__).resolve().parent / "lua"
MAX_REQUESTS_PER_CONNECTION = 200_000  # a bound beside the time limit
PATIENT = '{{"name":"压测患者","sex":"female","birth_date":"1990-03-04","phone":"{phone}"}}'
# how wrk's Lua scripts get the secrets (the environment, not the command line that `ps` shows)
TOKEN_ENV = "WENZHEN_BENCH_TOKEN"
BODY_ENV = "WENZHEN_BENCH_BODY"


@dataclass(frozen=True)
class Workload:
    """Every request is a GET of ``path``; with ``register``, a POST of a new patient there; with ``login``,
    a POST of that JSON body there, each from another origin address (``X-Forwarded-For``: the gateway must
    trust one proxy); with ``book`` (bench/booking.py's ``patients;slots``), a POST of a booking there, each with
    its own ``Idempotency-Key`` (``book_runs``: into how many runs the clinic's patient × slot pairs are shared; 1
    for a clinic of its own). ``token``, when given, goes along as ``Authorization: Bearer``."""

    path: str = "/"
    register: bool = False
    token: str | None = field(default=None, repr=False)
    login: str | None = field(default=None, repr=False)
    book: str | None = field(default=None, repr=False)
    book_runs: int = 8


@dataclass(frozen=True)
class LoadResult:
    """``errors`` counts every error status and broken connection, ``conflicts`` the 409 answers among them (a full
    slot in the booking rush: an answer, not a failure)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    conflicts: int = 0
    server_errors: int | None = None  # 5xx answers among the errors (wrk with status.lua only)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def failures(self) -> int:
        """Errors other than 409."""
        return self.errors - self.conflicts

    @property
    def conflict_share(self) -> float:
        return self.conflicts / self.requests if self.requests else 0.0


class LoadTool(Protocol):
    name: str

    def run(self, base_url: str, workload: Workload, connections: int, seconds: int) -> LoadResult: ...


# wrk -------------------------------------------------------------------------
class Wrk:
    name = "wrk"

    def __init__(self, binary: str):
        self.binary = binary
        self._series: dict[str, itertools.count] = {}  # per workload kind: distinct phones, bookings, origins per run

    def run(self, base_url: str, workload: Workload, connections: int, seconds: int) -> LoadResult:
        threads = max(1, min(connections, os.cpu_count() or 1))
        with tempfile.TemporaryDirectory(prefix="wenzhen-bench-wrk-") as tmp:
            script = Path(tmp) / "bench.lua"
            script.write_text(wrk_script(workload))
            argv = [self.binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                    "--latency", "-s", str(script), base_url + workload.path, "--", str(self._next(workload)),
                    str(threads), str(workload.book_runs)]
            env = {**os.environ, TOKEN_ENV: workload.token or "", BODY_ENV: workload.login or workload.book or ""}
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True, env=env)
        return parse_wrk(done.stdout)

    def _next(self, workload: Workload) -> int:
        return next(self._series.setdefault(_writer(workload) or "get", itertools.count(1)))


def _writer(workload: Workload) -> str | None:
    return ("register.lua" if workload.register else "login.lua" if workload.login
            else "book.lua" if workload.book else None)


def wrk_script(workload: Workload) -> str:
    """auth.lua (the bearer token), the request writer of a POST workload (GETs use wrk's own), report.lua."""
    writer = _writer(workload)
    counts = ["status.lua"] if workload.book else []  # the 409s of the booking rush
    parts = ["auth.lua", *(["threads.lua", writer, *counts] if writer else []), "report.lua"]
    return "\n".join((LUA / part).read_text(encoding="utf-8") for part in parts)


def parse_wrk(stdout: str) -> LoadResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout}")
    s = json.loads(line.removeprefix("WRK_JSON "))
    errors = s["status"] + s["connect"] + s["read"] + s["write"] + s["timeout"]
    return LoadResult(requests=s["requests"], seconds=s["duration_us"] / 1e6, p50_ms=s["p50_us"] / 1000,
                      p99_ms=s["p99_us"] / 1000, errors=errors, conflicts=s.get("conflicts", 0),
                      server_errors=s.get("server_errors"))


# the fallback ----------------------------------------------------------------
class ThreadedClient:
    """One thread per connection, each a keep-alive ``http.client`` connection. Slower than
    wrk: its threads share one GIL, and the cores with the servers under test."""

    name = "python-http.client"

    def __init__(self) -> None:
        self._phones = itertools.count(1)
        self._origins = itertools.count(1)
        self._bookings = itertools.count(0)

    def run(self, base_url: str, workload: Workload, connections: int, seconds: int) -> LoadResult:
        url = urlsplit(base_url)
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        with ThreadPoolExecutor(connections, thread_name_prefix="load") as pool:
            runs = list(pool.map(lambda _: self._drive(url.hostname or "127.0.0.1", url.port or 80, workload,
                                                       deadline), range(connections)))
        return summarize(runs, time.perf_counter() - started)

    def _drive(self, host: str, port: int, workload: Workload, deadline: float) -> tuple[list[float], int, int]:
        conn = HTTPConnection(host, port, timeout=10)
        latencies: list[float] = []
        errors = conflicts = 0
        try:
            while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS_PER_CONNECTION:
                method, body, headers = self._request(workload)
                started = time.perf_counter()
                status = _exchange(conn, method, workload.path, body, headers)
                latencies.append(time.perf_counter() - started)
                errors += not 0 < status < 400
                conflicts += status == 409
        finally:
            conn.close()
        return latencies, errors, conflicts

    def _request(self, workload: Workload) -> tuple[str, bytes | None, dict[str, str]]:
        headers = {"Authorization": f"Bearer {workload.token}"} if workload.token else {}
        if workload.register:
            body = PATIENT.format(phone=f"15{next(self._phones):09d}").encode()
            return "POST", body, {**headers, "Content-Type": "application/json"}
        if workload.book:
            body, key = book_body(workload.book, next(self._bookings))
            return "POST", body.encode(), {**headers, "Content-Type": "application/json", "Idempotency-Key": key}
        if workload.login:
            n = next(self._origins)
            origin = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            return "POST", workload.login.encode(), {**headers, "Content-Type": "application/json",
                                                     "X-Forwarded-For": origin}
        return "GET", None, headers


def _exchange(conn: HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
    """One request and its response's status; 0 for a broken connection."""
    try:
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, HTTPException):
        conn.close()  # the next request reconnects
        return 0


def summarize(runs: list[tuple], seconds: float) -> LoadResult:
    """Per-thread (latencies in seconds, errors[, 409s]) into one result."""
    latencies = sorted(t for run in runs for t in run[0])
    return LoadResult(requests=len(latencies), seconds=seconds, p50_ms=percentile(latencies, 50) * 1000,
                      p99_ms=percentile(latencies, 99) * 1000, errors=sum(run[1] for run in runs),
                      conflicts=sum(run[2] for run in runs if len(run) > 2))


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# choosing --------------------------------------------------------------------
def pick_tool(say: Callable[[str], None]) -> LoadTool:
    wanted = os.environ.get("BENCH_LOAD_TOOL", "").lower()
    binary = None if wanted == "python" else shutil.which("wrk") or install_wrk(say)
    if binary:
        return Wrk(binary)
    if wanted == "wrk":
        raise SystemExit("BENCH_LOAD_TOOL=wrk but wrk is not installed (Debian: apt-get install wrk)")
    say("load tool: threaded Python client (wrk is not available)")
    return ThreadedClient()


def install_wrk(say: Callable[[str], None]) -> str | None:
    """As root with apt-get: install Debian's ``wrk``; None when that is not possible."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    say("installing wrk from Debian's packages (one time)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(argv, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            say(f"`{' '.join(argv)}` failed")
            return None
    return shutil.which("wrk")
