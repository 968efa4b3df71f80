"""The benchmarks in order, each next to the baseline it is compared with, all in one run
against one isolated stack (see bench/isolated.py). The gateway is measured as it is used:
signed in (bench/callers.py), a patient reading their record (and the whole of it as FHIR), a consultant registering
patients, a consultant booking appointments (bench/booking.py) into roomy slots and in a rush
for single-place ones, a chat message's live delivery (bench/chat.py), and a patient signing in.

Two rounds: on the empty databases, then — unless ``BENCH_GROWTH=0`` — after a year of history
is loaded (bench/growth.py) and the hot queries explained (bench/explain.py), the database
baselines and the gateway's figures again, each rate with its ratio to the first round's.
Targets are printed and recorded (``target``, ``met``), never asserted."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import baselines, booking, callers, chat, dbraw, explain, growth
from bench.isolated import HELLO, BenchStack, isolated_stack
from bench.load import LoadResult, LoadTool, Workload, pick_tool
from bench.report import Report, say
from contracts.pharmacy.courier import OpCode, RouteEvent, push_body
from wenzhen.ids import to_fhir
from wenzhen.rpc_client import RpcClient

CONNECTIONS = 32  # HTTP connections, RPC caller threads for the concurrent echo, database threads
LOGIN_CONNECTIONS = 4  # sign-ins hash a password (Argon2id, 19 MiB) each: fewer at a time
SECONDS = int(os.environ.get("BENCH_SECONDS") or 6)  # each measurement
WARMUP = 2  # before each measurement, not counted
RAW_WARMUP = 1
GROWTH = os.environ.get("BENCH_GROWTH", "1") != "0"  # BENCH_GROWTH=0: the first round only
# targets (issue 12): printed and recorded, never asserted
BOOK_TARGET, BOOK_AIM, BOOK_P99_MS = 0.5, 0.8, 500
GET_TARGET = 0.35
CHAT_P99_MS = 100
LOGIN_TARGET = 0.8
GROWTH_TARGET = 0.9


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
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        phases[name] = now - clock
        clock = now

    publish_baseline(stack, report)
    echo = echo_baselines(stack, report)
    hello = hello_baseline(stack, http, report)
    raw = raw_baselines(stack, report)
    phase("baselines (pika, echo, gunicorn, database, Argon2id)")
    say("signing in the callers: a patient (SMS code from the sink, own record), the first admin, a consultant…")
    signed_in = callers.sign_in(stack)
    gateway_register(stack, http, report, signed_in)  # first: the set-up below waits for its consequences too
    hospital, clinic = booking.set_up(stack, signed_in.admin_token, signed_in.consultant_token, say)
    rush = booking.rush_clinics(hospital, clinic.patients, say)
    phase("set-up (callers, registrations, clinics, patients)")
    first = gateway_round(stack, http, report, signed_in, clinic, rush[:2], echo, raw, "")
    report.add("gateway_get_patient_vs_gunicorn_hello", first["gateway_get_patient"] / hello, "ratio",
               of="gateway_get_patient / gunicorn_hello")
    phase("round 1 (empty databases)")
    if not GROWTH:
        say("BENCH_GROWTH=0: no growth round")
    else:
        grow(stack, report)
        phase("growth load and explain")
        settle(stack, report)
        phase("settling after the load")
        raw_grown = raw_baselines(stack, report, "_grown")
        second = gateway_round(stack, http, report, signed_in, clinic, rush[2:], echo, raw_grown, "_grown")
        for name, rate in {**raw, **first}.items():
            grown = {**raw_grown, **second}.get(name)
            if rate and grown is not None:
                report.target(f"growth_{name}", grown / rate, "ratio", of=f"{name}_grown / {name}",
                              target=GROWTH_TARGET)
        phase("round 2 (grown databases)")
    for name, seconds in phases.items():
        say(f"time: {name}: {seconds:.0f}s")
    report.add("bench_phase_seconds", sum(phases.values()), "s", **{k: round(v) for k, v in phases.items()})


def gateway_round(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers,
                  clinic: booking.Clinic, rush: list[booking.Clinic], echo: float, raw: dict[str, float],
                  suffix: str) -> dict[str, float]:
    """The gateway's figures and their ratios, on the databases as they are; returns the rates by figure name (without
    ``suffix``)."""
    rates = {}
    booking.quiet(stack, say)
    get = gateway_get(stack, http, report, signed_in, suffix)
    rates["gateway_get_patient"] = get
    report.target(f"gateway_get_patient_vs_rpc_echo{suffix}", get / echo, "ratio",
                  of=f"gateway_get_patient{suffix} / rpc_echo_concurrent ({CONNECTIONS} each)", target=GET_TARGET)
    booking.quiet(stack, say)
    everything = gateway_record(stack, http, report, signed_in, suffix)
    rates["gateway_fhir_everything"] = everything
    report.add(f"gateway_fhir_everything_vs_rpc_echo{suffix}", everything / echo, "ratio",
               of=f"gateway_fhir_everything{suffix} / rpc_echo_concurrent ({CONNECTIONS} each)")
    report.add(f"gateway_fhir_everything_vs_get_patient{suffix}", everything / get, "ratio",
               of=f"gateway_fhir_everything{suffix} / gateway_get_patient{suffix}: the record's six audited reads "
                  "against one")
    booking.quiet(stack, say)
    push = gateway_route_push(stack, http, report, suffix)
    rates["gateway_route_push"] = push
    report.add(f"gateway_route_push_vs_rpc_echo{suffix}", push / echo, "ratio",
               of=f"gateway_route_push{suffix} / rpc_echo_concurrent ({CONNECTIONS} each): the courier's signed push, "
                  "answered after its digest is checked and its steps looked up")
    booking.quiet(stack, say)
    rates["gateway_book"] = gateway_book(stack, http, report, signed_in, clinic, echo, raw, suffix)
    booking.quiet(stack, say)
    rates["gateway_book_rush"] = gateway_rush(stack, http, report, signed_in, rush, suffix)
    booking.quiet(stack, say)
    chat_delivery(stack, report, signed_in, suffix)
    booking.quiet(stack, say)
    rates["gateway_login"] = gateway_login(stack, Http(http.tool, LOGIN_CONNECTIONS), report, signed_in, raw, suffix)
    return rates


def grow(stack: BenchStack, report: Report) -> None:
    cfg = stack.settings
    say("growth: loading a year of history into the bench's databases (bench/growth.py)…")
    written, seconds = growth.load(cfg.mongo_uri, cfg.database_name, stack.env, say)
    report.add("growth_load_seconds", seconds, "s", **written,
               note="bench/growth.py: insert_many in batches, secondary indexes rebuilt after the load")
    say("explain: the hot queries on the grown databases (bench/explain.py)…")
    mongo = booking._client(cfg.mongo_uri)

    def database_of(service: str):
        return mongo[cfg.database_name(service)]

    rows = explain.report(database_of, out=_StderrLines())
    flagged = [r for r in rows if r["collscan"]]
    report.add("explain_collscans", len(flagged), "queries", queries=len(rows),
               collscans=[f"{r['service']}.{r['collection']} {r['filter']} ({r['via']}): {r['where']} — "
                          f"{r['ms']:.1f} ms, a true scan {r['scan_ms']:.1f} ms, {r['documents']} documents"
                          for r in flagged],
               reported_only=[f"{r['service']}.{r['collection']}: {r['where']}" for r in rows
                              if r["verdict"] == "reported"],
               unsure=[f"{r['service']}.{r['collection']}: {r['where']}" for r in rows if r["verdict"] == "unsure"])


def settle(stack: BenchStack, report: Report, longest: float = 180.0) -> None:
    """Wait until the database is idle again after the load (its own CPU, with no client, under a tenth of a core —
    a server still writing back what was loaded would make the second round measure that), at most ``longest``
    seconds; the wait and the idle CPU are recorded."""
    pid = stack.procs["secantusdb"].pid
    started = time.monotonic()
    while True:
        busy = _cpu_share(pid, 3.0)
        waited = time.monotonic() - started
        if busy < 0.1 or waited > longest:
            break
        say(f"settling: the database uses {busy:.0%} of a core with no client; waiting…")
    report.add("growth_settle_seconds", waited, "s", database_cpu_share_idle=busy,
               note="after the load and explain, until SecantusDB's own CPU with no client is under 10 % of a core")


def _cpu_share(pid: int, seconds: float) -> float:
    def cpu() -> float:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    return (cpu() - before) / (time.monotonic() - t0)


class _StderrLines:
    """explain's table on stderr, with the progress lines (stdout carries only the JSON figures)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        pass


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


def raw_baselines(stack: BenchStack, report: Report, suffix: str = "") -> dict[str, float]:
    """The database through pymongo (find_one by _id, insert_one, the booking-shaped transaction) at 1 and
    ``CONNECTIONS`` threads, and Argon2id verifications at the sign-in figure's concurrency; returns the rates."""
    cfg = stack.settings
    say(f"database: pymongo against the bench's own SecantusDB (1 and {CONNECTIONS} threads){suffix and ', grown'}…")
    db = dbraw.database(cfg.mongo_uri, cfg.database_name("rawbench"))
    ops = dbraw.operations(db, dbraw.prepare(db))
    rates = {}
    for name, op in ops.items():
        for threads, kind in ((1, "sequential"), (CONNECTIONS, "concurrent")):
            dbraw.run(op, threads, RAW_WARMUP)
            r = dbraw.run(op, threads, SECONDS)
            unit = "tx/s" if name == "raw_booking_tx" else "ops/s"
            report.add(f"{name}_{kind}{suffix}", r.rps, unit, threads=threads, p50_ms=r.p50_ms, p99_ms=r.p99_ms,
                       errors=r.errors, **({"shape": "update_one {_id, status: open, free > 0} $inc, insert_one "
                                           "appointment, insert_one outbox entry"} if name == "raw_booking_tx" else {}))
            rates[f"{name}_{kind}"] = r.rps
    db.client.drop_database(db.name)
    db.client.close()
    params = dbraw.argon2_parameters(stack.env)
    say(f"Argon2id verify, m={params[1]} KiB, t={params[0]}, p={params[2]}, {LOGIN_CONNECTIONS} threads…")
    r = dbraw.argon2_verifications(params, LOGIN_CONNECTIONS, SECONDS)
    report.add(f"argon2_verify{suffix}", r.rps, "verifies/s", threads=LOGIN_CONNECTIONS, p50_ms=r.p50_ms,
               argon2=f"m={params[1]}KiB,t={params[0]},p={params[2]}", note="argon2-cffi in threads, same cores")
    rates["argon2_verify"] = r.rps
    return rates


# the gateway -----------------------------------------------------------------
def gateway_get(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers, suffix: str) -> float:
    say("gateway: GET /v1/patients/{id}, the patient with their bearer token…")
    r = http.measure(stack.gateway_url(), Workload(f"/v1/patients/{signed_in.patient_id}",
                                                   token=signed_in.patient_token))
    add_http(report, f"gateway_get_patient{suffix}", r, http, caller="patient (own record)")
    return r.rps


def gateway_record(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers, suffix: str) -> float:
    say("gateway: GET /fhir/Patient/{id}/$everything, the patient reading their record as FHIR (records, booking and "
        "intake each answer and audit)…")
    r = http.measure(stack.gateway_url(), Workload(f"/fhir/Patient/{to_fhir(signed_in.patient_id)}/$everything",
                                                   token=signed_in.patient_token))
    add_http(report, f"gateway_fhir_everything{suffix}", r, http, caller="patient (own record)")
    return r.rps


def gateway_route_push(stack: BenchStack, http: Http, report: Report, suffix: str) -> float:
    """The courier's route push (no token: the digest is its authentication), signed with the stack's check word,
    for a waybill pharmacy does not know: the path every push takes before it changes an order (parse, verify in
    constant time, look the steps up by waybill and order id in a transaction), answered ``0000``."""
    say("gateway: POST /v1/courier/route-pushes, the courier's signed route push…")
    event = RouteEvent(id=f"bench-{os.getpid()}", mailno="SF0000000000000", orderid="dsp_bench",
                       accept_time=datetime.now(UTC), accept_address="上海市", remark="bench",
                       op_code=OpCode.in_transit)
    body = push_body(stack.env.get("COURIER_PARTNER_ID") or "WENZHEN_DEV", "bench", [event],
                     stack.env["COURIER_CHECK_WORD"], int(time.time() * 1000))
    r = http.measure(stack.gateway_url(), Workload("/v1/courier/route-pushes", login=json.dumps(body)))
    add_http(report, f"gateway_route_push{suffix}", r, http, caller="the courier (signed push)")
    return r.rps


def gateway_register(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers) -> None:
    say("gateway: POST /v1/patients, a consultant registering patients (a new phone number each)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/patients", register=True,
                                                   token=signed_in.consultant_token))
    add_http(report, "gateway_post_patient", r, http, caller="consultant (on the patient's behalf)")
    report.add("gateway_post_patient_error_rate", r.error_rate * 100, "%", errors=r.errors, requests=r.requests)


def gateway_book(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers, clinic: booking.Clinic,
                 echo: float, raw: dict[str, float], suffix: str) -> float:
    say(f"gateway: POST /v1/appointments, the consultant booking {len(clinic.patients)} patients into "
        f"{len(clinic.slots)} slots of {booking.CAPACITY} places (an Idempotency-Key each)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/appointments", token=signed_in.consultant_token,
                                                   book=clinic.spec))
    name = f"gateway_book{suffix}"
    add_http(report, name, r, http, caller="consultant (on the patient's behalf)", slots=len(clinic.slots),
             capacity=booking.CAPACITY)
    report.add(f"{name}_error_rate", r.error_rate * 100, "%", errors=r.errors, requests=r.requests,
               server_errors=r.server_errors, conflicts=r.conflicts)
    report.add(f"{name}_vs_rpc_echo", r.rps / echo, "ratio", of=f"{name} / rpc_echo_concurrent ({CONNECTIONS} each)")
    base = raw["raw_booking_tx_concurrent"]
    report.target(f"{name}_vs_raw_booking_tx", r.rps / base, "ratio", target=BOOK_TARGET, aim=BOOK_AIM,
                  of=f"{name} / raw_booking_tx_concurrent{suffix} ({CONNECTIONS} connections / {CONNECTIONS} threads: "
                     f"{r.rps:.1f} / {base:.1f})")
    report.target(f"{name}_p99_target", r.p99_ms, "ms", of=f"{name}_p99", target=BOOK_P99_MS, lower=True)
    report.target(f"{name}_errors_target", r.errors, "errors", of=f"{name} errors of {r.requests}", target=1,
                  lower=True)
    wrong, made = booking.overbooked(stack, clinic)
    report.target(f"{name}_inconsistent_slots", wrong, "slots", bookings=made, target=1, lower=True,
                  of="slots whose held places disagree with their counters or capacity (must be 0)")
    return r.rps


def gateway_rush(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers,
                 rush: list[booking.Clinic], suffix: str) -> float:
    """Single-place slots, many patients: a warm-up on one set of fresh slots, the measurement on another."""
    warm, measured = rush
    say(f"gateway: the rush — POST /v1/appointments for {len(measured.patients)} patients into {len(measured.slots)} "
        "single-place slots…")
    url = stack.gateway_url()
    http.tool.run(url, Workload("/v1/appointments", token=signed_in.consultant_token, book=warm.spec,
                                book_runs=1), http.connections, WARMUP)
    r = http.tool.run(url, Workload("/v1/appointments", token=signed_in.consultant_token, book=measured.spec,
                                    book_runs=1), http.connections, SECONDS)
    name = f"gateway_book_rush{suffix}"
    report.add(name, r.rps, "req/s", errors=r.failures, conflicts=r.conflicts, server_errors=r.server_errors,
               requests=r.requests,
               slots=len(measured.slots), capacity=1, **http.extra, note="409 (the place is taken) is an answer here")
    report.add(f"{name}_p50", r.p50_ms, "ms", **http.extra)
    report.add(f"{name}_p99", r.p99_ms, "ms", **http.extra)
    report.add(f"{name}_409_share", r.conflict_share * 100, "%", conflicts=r.conflicts, requests=r.requests,
               places=len(measured.slots))
    wrong, made = booking.overbooked(stack, measured)
    report.target(f"{name}_overbooked_slots", wrong, "slots", bookings=made, target=1, lower=True,
                  of="single-place slots holding more than one booking or disagreeing with their counters (must be 0)")
    if r.failures:
        say(f"{name}: {r.failures} of {r.requests} answers were errors other than 409")
    return r.rps


def chat_delivery(stack: BenchStack, report: Report, signed_in: callers.Callers, suffix: str) -> None:
    say(f"gateway: a consultant's {chat.MESSAGES} answers to a visitor's live stream (SSE), one at a time…")
    r = chat.delivery(stack.gateway_url(), signed_in.consultant_token)
    echo_p50 = next(rec["p50_ms"] for rec in report.records if rec["bench"] == "rpc_echo_sequential")
    report.add(f"chat_delivery_p50{suffix}", r["p50_ms"], "ms", p99_ms=r["p99_ms"], max_ms=r["max_ms"],
               delivered=r["delivered"], lost=r["lost"], note="POST …/messages sent → message event on the other "
               "side's stream: transaction, outbox relay, broker, gateway subscription, fetch as the reader")
    report.add(f"chat_delivery_p50_vs_rpc_echo_p50{suffix}", r["p50_ms"] / echo_p50, "ratio",
               of="chat_delivery_p50 / rpc_echo_sequential p50 (same run)")
    report.target(f"chat_delivery_p99{suffix}", r["p99_ms"], "ms", of=f"{r['delivered']} of {r['messages']} "
                  "delivered, one at a time", target=CHAT_P99_MS, lower=True)


def gateway_login(stack: BenchStack, http: Http, report: Report, signed_in: callers.Callers, raw: dict[str, float],
                  suffix: str) -> float:
    t, m, p = dbraw.argon2_parameters(stack.env)
    say(f"gateway: POST /v1/auth/login, the patient ({http.connections} connections, another "
        "X-Forwarded-For each time)…")
    r = http.measure(stack.gateway_url(), Workload("/v1/auth/login", login=signed_in.patient_login))
    name = f"gateway_login{suffix}"
    add_http(report, name, r, http, argon2=f"m={m}KiB,t={t},p={p}",
             note="each sign-in verifies an Argon2id hash and opens a session")
    base = raw["argon2_verify"]
    report.target(f"{name}_vs_argon2_verify", r.rps / base, "ratio", target=LOGIN_TARGET,
                  of=f"{name} / argon2_verify{suffix} ({LOGIN_CONNECTIONS} connections / {LOGIN_CONNECTIONS} threads: "
                     f"{r.rps:.1f} / {base:.1f})")
    return r.rps


def add_http(report: Report, bench: str, r: LoadResult, http: Http, **extra: object) -> None:
    if r.error_rate > 0.01:
        say(f"{bench}: {r.errors} of {r.requests} requests failed (an error status or a broken connection); "
            "see the logs: this figure does not measure what it says")
    report.add(bench, r.rps, "req/s", errors=r.errors, **http.extra, **extra)
    report.add(f"{bench}_p50", r.p50_ms, "ms", **http.extra)
    report.add(f"{bench}_p99", r.p99_ms, "ms", **http.extra)
