"""The benchmarks in order, each next to the baseline it is compared with, all in one run
against one isolated stack (see bench/isolated.py). The gateway is measured as it is used:
signed in (bench/callers.py), a patient reading their record, a consultant registering
patients, a consultant booking appointments (bench/booking.py), a chat message's live delivery
(bench/chat.py), and a patient signing in."""
from __future__ import annotations

import signal
import time
from contextlib import closing
from dataclasses import dataclass

from bench import baselines, booking, callers, chat
from bench.isolated import HELLO, BenchStack, isolated_stack
from bench.load import LoadResult, LoadTool, Workload, pick_tool
from bench.report import Report, say
from services.identity.settings import IdentitySettings
from wenzhen.rpc_client import RpcClient

CONNECTIONS = 32  # HTTP connections, and RPC caller threads for the concurrent echo
LOGIN_CONNECTIONS = 4  # sign-ins hash a password (Argon2id, 19 MiB) each: fewer at a time
SECONDS = 6  # each measurement
WARMUP = 2  # before each measurement, not counted


@dataclass(frozen=True)
class Http:
    """Measures HTTP workloads with one tool at one concurrency."""

    tool: LoadTool
    connections: int = CONNECTIONS

    def measure(self, base_url: str, workload: Workload) -> LoadResult:
        self.tool.run(base_url, workload, self.connections, WARMUP)
        return self.tool.run(base_url, workload, self.connections, SECONDS)

    @property
    def extra(self) -> dict:
        return {"connections": self.connections, "tool": self.tool.name, "seconds": SECONDS}


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    report = Report()
    try:
        http = Http(pick_tool(say))
        say(f"load tool: {http.tool.name}, {CONNECTIONS} connections, {SECONDS}s per figure after {WARMUP}s warm-up")
        with isolated_stack(say) as stack:
            run_all(stack, http, report)
    except KeyboardInterrupt:
        say("interrupted; the bench's processes are stopped")
        return 130
    path = report.save()
    say(f"{len(report.records)} figures in {path} ({time.monotonic() - started:.0f}s)")
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_all(stack: BenchStack, http: Http, report: Report) -> None:
    publish_baseline(stack, report)
    echo = echo_baselines(stack, report)
    hello = hello_baseline(stack, http, report)
    say("signing in the callers: a patient (SMS code from the sink, own record), the first admin, a consultant…")
    signed_in = callers.sign_in(stack)
    get = gateway_get(stack, http, report, signed_in)
    report.add("gateway_get_patient_vs_rpc_echo", get / echo, "ratio",
               of=f"gateway_get_patient / rpc_echo_concurrent ({CONNECTIONS} each)")
    report.add("gateway_get_patient_vs_gunicorn_hello", get / hello, "ratio",
               of="gateway_get_patient / gunicorn_hello")
    gateway_register(stack, http, report, signed_in)
    gateway_book(stack, http, report, signed_in, echo)
    chat_delivery(stack, report, signed_in)
    gateway_login(stack, Http(http.tool, LOGIN_CONNECTIONS), report, signed_in)


# baselines -------------------------------------------------------------------
def publish_baseline(stack: BenchStack, report: Report) -> None:
    say("pika: persistent publishes with confirms…")
    r = baselines.confirmed_publishes(stack.amqp_uri, SECONDS, WARMUP)
    report.add("pika_publish_confirmed", r.rps, "msg/s", p50_ms=r.p50_ms, p99_ms=r.p99_ms,
               body_bytes=baselines.PUBLISH_BODY_BYTES, note="delivery_mode=2, durable queue, one confirm awaited "
               "per message")


def echo_baselines(stack: BenchStack, report: Report) -> float:
    """Sequential and concurrent echo calls/s; returns the concurrent rate."""
    say("Nameko echo RPC through wenzhen.rpc_client.RpcClient…")
    stack.start_echo()
    with closing(RpcClient(stack.amqp_uri, timeout=10, name="bench")) as client:
        baselines.wait_for_echo(client)
        baselines.echo_calls(client, 1, WARMUP)
        seq = baselines.echo_calls(client, 1, SECONDS)
        conc = baselines.echo_calls(client, CONNECTIONS, SECONDS)
    workers = stack.settings.service_max_workers
    report.add("rpc_echo_sequential", seq.rps, "calls/s", p50_ms=seq.p50_ms, p99_ms=seq.p99_ms, errors=seq.errors)
    report.add("rpc_echo_concurrent", conc.rps, "calls/s", threads=CONNECTIONS, p50_ms=conc.p50_ms,
               p99_ms=conc.p99_ms, errors=conc.errors, note=f"one shared RpcClient; service max_workers={workers}")
    return conc.rps


def hello_baseline(stack: BenchStack, http: Http, report: Report) -> float:
    cfg = stack.settings
    say(f"bare gunicorn hello (gthread, {cfg.gateway_workers} workers × {cfg.gateway_threads} threads)…")
    r = http.measure(stack.start_hello(), Workload("/"))
    stack.stop(HELLO)
    add_http(report, "gunicorn_hello", r, http, workers=cfg.gateway_workers, threads=cfg.gateway_threads)
    return r.rps


# the gateway -----------------------------------------------------------------
def gateway_get(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers) -> float:
    say("gateway: GET /v1/patients/{id}, the patient with their bearer token…")
    r = http.measure(stack.gateway_url(), Workload(f"/v1/patients/{signed_in.patient_id}",
                                                   token=signed_in.patient_token))
    add_http(report, "gateway_get_patient", r, http, caller="patient (own record)")
    return r.rps


def gateway_register(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers) -> None:
    say("gateway: POST /v1/patients, a consultant registering patients (a new phone number each)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/patients", register=True,
                                                   token=signed_in.consultant_token))
    add_http(report, "gateway_post_patient", r, http, caller="consultant (on the patient's behalf)")
    report.add("gateway_post_patient_error_rate", r.error_rate * 100, "%", errors=r.errors, requests=r.requests)


def gateway_book(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers, echo: float) -> None:
    clinic = booking.set_up(stack, signed_in.admin_token, signed_in.consultant_token, say)
    say(f"gateway: POST /v1/appointments, the consultant booking {len(clinic.patients)} patients into "
        f"{len(clinic.slots)} slots (an Idempotency-Key each)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/appointments", token=signed_in.consultant_token,
                                                   book=clinic.spec))
    add_http(report, "gateway_book", r, http, caller="consultant (on the patient's behalf)",
             slots=len(clinic.slots), capacity=booking.CAPACITY)
    report.add("gateway_book_error_rate", r.error_rate * 100, "%", errors=r.errors, requests=r.requests)
    report.add("gateway_book_vs_rpc_echo", r.rps / echo, "ratio",
               of=f"gateway_book / rpc_echo_concurrent ({CONNECTIONS} each)")
    wrong, made = booking.overbooked(stack, clinic)
    report.add("gateway_book_inconsistent_slots", wrong, "slots", bookings=made,
               note="slots whose held places disagree with their counters or capacity (must be 0)")


def chat_delivery(stack: BenchStack, report: Report, signed_in: callers.Callers) -> None:
    say(f"gateway: a consultant's {chat.MESSAGES} answers to a visitor's live stream (SSE), one at a time…")
    r = chat.delivery(stack.gateway_url(), signed_in.consultant_token)
    echo_p50 = next(rec["p50_ms"] for rec in report.records if rec["bench"] == "rpc_echo_sequential")
    report.add("chat_delivery_p50", r["p50_ms"], "ms", p99_ms=r["p99_ms"], max_ms=r["max_ms"],
               delivered=r["delivered"], lost=r["lost"], note="POST …/messages sent → message event on the other "
               "side's stream: transaction, outbox relay, broker, gateway subscription, fetch as the reader")
    report.add("chat_delivery_p50_vs_rpc_echo_p50", r["p50_ms"] / echo_p50, "ratio",
               of="chat_delivery_p50 / rpc_echo_sequential p50 (same run)")


def gateway_login(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers) -> None:
    cfg = IdentitySettings.from_env(stack.env)
    say(f"gateway: POST /v1/auth/login, the patient ({http.connections} connections, another "
        "X-Forwarded-For each time)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/auth/login", login=signed_in.patient_login))
    add_http(report, "gateway_login", r, http, argon2=f"m={cfg.argon2_memory_kib}KiB,t={cfg.argon2_time_cost},"
             f"p={cfg.argon2_parallelism}", note="each sign-in verifies an Argon2id hash and opens a session")


def add_http(report: Report, bench: str, r: LoadResult, http: Http, **extra: object) -> None:
    if r.error_rate > 0.01:
        say(f"{bench}: {r.errors} of {r.requests} requests failed (an error status or a broken connection); "
            "see the logs: this figure does not measure what it says")
    report.add(bench, r.rps, "req/s", errors=r.errors, **http.extra, **extra)
    report.add(f"{bench}_p50", r.p50_ms, "ms", **http.extra)
    report.add(f"{bench}_p99", r.p99_ms, "ms", **http.extra)
