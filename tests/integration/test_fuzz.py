"""A schema fuzzer over the whole API (issue 10): schemathesis generates requests from the gateway's own
``/openapi.json`` — valid ones and invalid ones — and sends them as a patient, a consultant and an admin.

Every answer must be no server error (5xx) and must conform to the document: its status is one the operation
declares (``default`` only stands for 500/503/504, which are server errors anyway, so schemathesis's own status check,
which any ``default`` satisfies, is not enough), its content type is the declared one and its body matches the
declared schema. The live streams are left out (they never end); the long-poll is sent with ``wait=0``. Examples are
bounded per operation and derandomized, so a run is repeatable; a 503/504 is sent again alone at the end, so that only
what a request on its own reproduces counts.

Each role fuzzes with two fresh accounts: one whose own resources (its patient record, its chat, its complaint,
…) are put into the path parameters so the bodies reach the services' rules, and one for everything else. Two
accounts also halve what each spends of the per-caller request budget; a 429 is a documented answer anyway.
State-changing operations that end what the others need (closing the chat, withdrawing consent, logging out) run
last. Cases are generated in one thread (Hypothesis) and sent by a few at once.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import new_origin, new_phone
from tests.integration.test_access_matrix import PNG

pytestmark = pytest.mark.integration

STREAMS = {("GET", "/v1/consultations/{consultation_id}/stream"), ("GET", "/v1/desk/stream")}
FIXED_QUERY = {("GET", "/v1/consultations/{consultation_id}/messages"): {"wait": 0}}  # no long-poll
# what ends the state the other operations need: run after everything else, in this order
LAST = [("POST", "/v1/consultations/{consultation_id}/close"), ("DELETE", "/v1/me/patients/{patient_id}"),
        ("DELETE", "/v1/me/consents/{document}"), ("POST", "/v1/auth/logout")]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SERVER_ERRORS = {500, 502, 503, 504}  # what the document's `default` response stands for

# examples per operation with a body or query parameters, (positive, negative): with the caller's own resources in the
# path, or with generated path parameters; operations without inputs get one or two, refused ones (role) one
AIMED = (12, 8)
GENERATED = (12, 8)
REFUSED = 1
THREADS = 4  # requests at once (the gateway has 16 threads; the services take the rest)


@dataclass
class Failure:
    operation: str
    status: int
    kind: str  # what was wrong
    detail: str  # an excerpt of the answer
    curl: str


@dataclass
class Tally:
    role: str
    requests: int = 0
    server_errors: int = 0
    conformance_failures: int = 0
    retried: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    per_operation: Counter = field(default_factory=Counter)  # requests by operation

    def summary(self) -> str:
        return (f"fuzz as {self.role}: {self.requests:,} requests, {self.server_errors} server errors, "
                f"{self.conformance_failures} conformance failures")

    def report(self) -> str:
        """Each kind of failure of each operation once, with how often it happened and a reproduction."""
        groups: dict[tuple, list[Failure]] = {}
        for failure in self.failures:
            groups.setdefault((failure.operation, failure.status, failure.kind), []).append(failure)
        lines = []
        for (operation, status, kind), found in groups.items():
            lines.append(f"{operation} → {status} ({len(found)}×): {kind}\n    {found[0].detail}\n    {found[0].curl}")
        return "\n".join(lines)


@dataclass
class Caller:
    token: str
    path: dict[str, str] = field(default_factory=dict)  # its own resources, by path parameter name


def world_of(stack, role: str) -> tuple[Caller, Caller]:
    """Two fresh accounts of ``role``: the first with resources of its own to aim the path parameters at."""
    if role == "patient":
        a, b = stack.patient(), stack.patient()
        chat = a.api.post("/v1/consultations", {"message": "模糊测试的问题", "patient_id": a.id})["consultation"]["id"]
        file = a.api.post(f"/v1/consultations/{chat}/attachments?name=f.png", PNG)["items"][0]["attachment"]["id"]
        complaint = a.api.post("/v1/complaints", {"patient_id": a.id, "about": "consultation", "reference": chat,
                                                  "text": "模糊测试：咨询回复太慢了。"})["id"]
        own = {"patient_id": a.id, "consultation_id": chat, "attachment_id": file, "complaint_id": complaint,
               "document": "privacy_notice"}
        return Caller(a.session.tokens["access_token"], own), Caller(b.session.tokens["access_token"])
    sessions = [stack.staff(role), stack.staff(role)]
    first = sessions[0]
    own: dict[str, str] = {"account_id": first.account_id}
    if role == "consultant":
        api = first.as_user
        phone_call = {"message": "模糊测试的电话咨询", "channel": "phone"}
        chat = api.post("/v1/consultations", phone_call)["consultation"]["id"]
        patient = api.post("/v1/patients", {"name": "模糊测试", "sex": "female", "birth_date": "1990-03-04",
                                            "phone": new_phone()})["id"]
        file = api.post(f"/v1/consultations/{chat}/attachments?name=f.png", PNG)["items"][0]["attachment"]["id"]
        own.update({"consultation_id": chat, "patient_id": patient, "attachment_id": file,
                    "consultant_id": first.account_id, "table": "triage"})
    if role == "admin":
        own["account_id"] = stack.staff("consultant").account_id  # someone for the admin to act on
    return Caller(first.tokens["access_token"], own), Caller(sessions[1].tokens["access_token"])


# the token is sent by the test (as each role), not generated; curl reproductions show the headers as sent
CONFIG = {"generation": {"with-security-parameters": False}, "output": {"sanitization": {"enabled": False}}}


def operations(stack) -> list:
    schema = schemathesis.openapi.from_url(stack.url + "/openapi.json", config=schemathesis.Config.from_dict(CONFIG))
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) not in STREAMS:
            ops.append(op)
    last = {key: i for i, key in enumerate(LAST)}
    return sorted(ops, key=lambda op: last.get((op.method.upper(), op.path), -1))  # LAST last, in its order


def allowed(op, role: str) -> bool:
    roles = op.definition.raw.get("x-roles")
    return roles == "public" or role in roles


def run(strategy, examples: int, each: Callable) -> None:
    if examples <= 0:
        return

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, verbosity=Verbosity.quiet,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def test(case):
        each(case)

    try:
        test()
    except Unsatisfiable:  # nothing invalid can be made of it (e.g. no parameters at all)
        pass


def curl(case, headers: dict, base_url: str, token: str) -> str:
    return case.as_curl_command(headers=headers, base_url=base_url).replace(token, "$TOKEN")


def has_input(op) -> bool:
    return bool(op.body) or any(p.location == "query" for p in op.query)


def plan(op, role: str, own: Caller, other: Caller) -> list[tuple[Caller, dict | None, GenerationMode, int]]:
    """Which runs an operation gets: (caller, fixed path parameters, mode, examples)."""
    if not allowed(op, role):
        return [(other, None, GenerationMode.POSITIVE, REFUSED)]
    names = [p.name for p in op.path_parameters]
    aimed = bool(names) and all(name in own.path for name in names)
    inputs = has_input(op)
    runs = []
    if aimed:  # junk ids (404s, after the gateway validated the rest), then the caller's own resources
        runs += [(other, None, GenerationMode.POSITIVE, 2 if inputs else 1)]
        runs += [(own, {n: own.path[n] for n in names}, GenerationMode.POSITIVE, AIMED[0] if inputs else 1)]
        runs += [(own, {n: own.path[n] for n in names}, GenerationMode.NEGATIVE, AIMED[1] if inputs else 0)]
        if inputs:
            runs += [(other, None, GenerationMode.NEGATIVE, 1)]
    else:
        runs += [(other, None, GenerationMode.POSITIVE, GENERATED[0] if inputs else 1 + bool(names))]
        runs += [(other, None, GenerationMode.NEGATIVE, GENERATED[1] if inputs else 0)]
    return [run for run in runs if run[3] > 0]


class Fuzzer:
    def __init__(self, stack, role: str):
        self.stack = stack
        self.role = role
        self.tally = Tally(role)
        self.lock = threading.Lock()
        self.local = threading.local()
        self.deferred: list[tuple] = []

    def session(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
        return self.local.http

    def send(self, case, caller: Caller, alone: bool = False) -> None:
        headers = {"Authorization": f"Bearer {caller.token}", "X-Forwarded-For": new_origin()}
        response = case.call(base_url=self.stack.url, session=self.session(), headers=headers, timeout=30)
        if response.status_code in (503, 504) and not alone:  # busy or too slow: again later, on its own, so that
            with self.lock:  # only what a request alone reproduces counts
                self.deferred.append((case, caller))
            return
        label = f"{case.operation.method.upper()} {case.operation.path}"
        problems = []
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            problems = [failure.title for failure in group.exceptions]
        declared = set(case.operation.definition.raw["responses"]) - {"default"}
        if str(response.status_code) not in declared and response.status_code not in SERVER_ERRORS:
            problems.append(f"Undocumented status (declared: {', '.join(sorted(declared))})")
        with self.lock:
            self.tally.requests += 1
            self.tally.statuses[response.status_code] += 1
            self.tally.per_operation[label] += 1
            if problems:
                if response.status_code >= 500:
                    self.tally.server_errors += 1
                else:
                    self.tally.conformance_failures += 1
                self.tally.failures.append(Failure(label, response.status_code, "; ".join(problems),
                                                   response.text[:300],
                                                   curl(case, headers, self.stack.url, caller.token)))

    def generate(self, op, own: Caller, other: Caller, send: Callable) -> None:
        key = (op.method.upper(), op.path)
        for caller, path, mode, examples in plan(op, self.role, own, other):
            strategy = op.as_strategy(generation_mode=mode, path_parameters=path, query=FIXED_QUERY.get(key),
                                      headers={"X-Request-ID": f"fuzz-{self.role}"})
            run(strategy, examples, lambda case, c=caller: send(case, c))

    def sender(self, pending: queue.Queue) -> None:
        while (item := pending.get()) is not None:
            try:
                self.send(*item)
            except Exception as exc:  # noqa: BLE001 - a request that could not be sent is a failure like any other
                with self.lock:
                    self.tally.failures.append(Failure(f"{item[0].operation.method.upper()} {item[0].operation.path}",
                                                       0, f"not sent: {exc!r}", "", ""))
            finally:
                pending.task_done()
        pending.task_done()

    def run(self) -> Tally:
        """Cases are generated here, one operation after the other (Hypothesis in one thread), and sent by
        ``THREADS`` senders meanwhile; the operations in ``LAST`` are sent one by one once the others are done."""
        own, other = world_of(self.stack, self.role)
        ops = operations(self.stack)
        last = [op for op in ops if (op.method.upper(), op.path) in LAST]
        pending: queue.Queue = queue.Queue(maxsize=64)
        senders = [threading.Thread(target=self.sender, args=(pending,), daemon=True) for _ in range(THREADS)]
        for thread in senders:
            thread.start()
        try:
            for op in ops:
                if op not in last:
                    self.generate(op, own, other, lambda case, caller: pending.put((case, caller)))
        finally:
            for _ in senders:
                pending.put(None)
            pending.join()
        for case, caller in self.deferred:
            self.send(case, caller, alone=True)
        self.tally.retried = len(self.deferred)
        if self.role == "consultant":  # off the desk again, so no later test's chat is offered to them
            for caller in (own, other):
                self.session().put(self.stack.url + "/v1/desk/presence", json={"available": False}, timeout=30,
                                   headers={"Authorization": f"Bearer {caller.token}", "X-Forwarded-For": new_origin()})
        for op in last:  # in order, after everything else
            self.generate(op, own, other, lambda case, caller: self.send(case, caller, alone=True))
        return self.tally


def fuzz(stack, role: str) -> Tally:
    return Fuzzer(stack, role).run()


@pytest.mark.parametrize("role", ["patient", "consultant", "admin"])
def test_the_api_survives_a_schema_fuzzer_and_answers_as_documented(stack, role):
    started = time.monotonic()
    tally = fuzz(stack, role)
    report = (f"{tally.summary()} in {time.monotonic() - started:.0f}s (statuses "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(tally.statuses.items()))}; {tally.retried} sent again alone "
              "after a 503/504)")
    print(f"\n{report}")
    assert not tally.failures, f"{report}\n{tally.report()}"
    assert tally.requests >= 200
