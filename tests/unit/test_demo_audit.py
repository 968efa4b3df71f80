"""`make demo`'s audit-trail check on a busy system: notify's read of the contact (for the welcome SMS) comes an event
after the registration, and every search is itself recorded about the patient. The demo used to search once, at
once, and read only the first page, so on a system where notify was busy it failed with "the audit trail does not
show notify's read of the contact for the welcome SMS"."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from deploy import demo
from deploy.client import Response
from deploy.demo import Actor, Journey, StepFailed, audit_trail, wait_for_audit

PATIENT = "pat_1"
SERVICES = 8


class FakeTrail:
    """The gateway's audit search over a growing trail: an entry per service for each search (about the patient),
    and notify's read appearing only after ``late`` searches (notify busy with other clients' events)."""

    def __init__(self, late: int, answering: bool = True):
        self.entries: list[dict] = []
        self.searches = 0
        self.late = late
        self.answering = answering
        self.add("acc_c", "create", "intake")

    def add(self, agent: str, subtype: str, service: str) -> None:
        self.entries.append({"id": f"aud_{len(self.entries):06d}", "service": service, "subtype": subtype,
                             "outcome": "success", "agent": {"kind": "user", "id": agent, "role": "consultant"},
                             "action": "R", "entity": {"type": "Patient"}, "recorded": "2026-12-03T00:00:00.000",
                             "origin": {"request_id": f"r{len(self.entries)}"}, "patient_id": PATIENT})

    def search(self, path: str) -> dict:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        self.searches += 1
        if self.searches == self.late:
            self.add("notify", "read", "intake")
        for service in range(SERVICES):
            self.add("acc_admin", "search", f"svc{service}")
        found = [e for e in reversed(self.entries) if e["patient_id"] == query["patient_id"]
                 and ("agent_id" not in query or e["agent"]["id"] == query["agent_id"])
                 and ("before" not in query or e["id"] < query["before"])]
        if not self.answering:
            found = [e for e in found if e["service"] != "intake"]
        limit = int(query["limit"])
        page = found[:limit]
        return {"items": page, "next_before": page[-1]["id"] if len(page) == limit else None,
                "incomplete": [] if self.answering else ["intake"]}


class FakeApi:
    def __init__(self, trail: FakeTrail):
        self.trail = trail
        self.request_id = "demo-test-01"

    def send(self, method: str, path: str, body=None) -> Response:
        return Response(200, {}, self.trail.search(path))


class FakeJourney(Journey):
    def __init__(self, trail: FakeTrail):
        super().__init__("http://gateway.invalid", "test")
        self.trail = trail

    def as_(self, actor: Actor) -> FakeApi:
        return FakeApi(self.trail)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(demo.time, "sleep", lambda seconds: None)


def test_the_demo_waits_for_notifys_read_then_reads_every_page():
    trail = FakeTrail(late=7)  # notify's read lands after 6 searches (48 search entries about her)
    journey, admin = FakeJourney(trail), Actor("admin")
    assert wait_for_audit(journey, admin, PATIENT, "notify", "read") == 7
    items, incomplete = audit_trail(journey, admin, PATIENT, {}, page_size=50)
    seen = {(e["agent"]["id"], e["subtype"]) for e in items}
    assert {("acc_c", "create"), ("notify", "read")} <= seen and incomplete == []
    # the registration is beyond the first page of 50 by now: one page would have missed it
    assert [e["id"] for e in items].index(trail.entries[0]["id"]) >= 50


def test_the_wait_ends_and_says_so_when_the_entry_never_comes(monkeypatch):
    clock = iter(range(0, 10_000, 5))
    monkeypatch.setattr(demo.time, "monotonic", lambda: next(clock))
    with pytest.raises(StepFailed, match="no read by notify"):
        wait_for_audit(FakeJourney(FakeTrail(late=10**9)), Actor("admin"), PATIENT, "notify", "read")


def test_a_service_that_did_not_answer_is_named_rather_than_its_entries_called_missing(monkeypatch):
    clock = iter(range(0, 10_000, 5))
    monkeypatch.setattr(demo.time, "monotonic", lambda: next(clock))
    with pytest.raises(StepFailed, match="did not answer in time: intake"):
        wait_for_audit(FakeJourney(FakeTrail(late=1, answering=False)), Actor("admin"), PATIENT, "notify", "read")
