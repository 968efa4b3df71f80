"""The gateway's memory of sessions and patient links that ended before the access tokens claiming them expire."""
import json
import time
from datetime import UTC, datetime, timedelta

from contracts.identity.events import SessionRevoked
from contracts.intake.events import PatientLinkRemoved
from gateway import revocations as module
from gateway.revocations import Revocations
from wenzhen.auth import Principal, Role
from wenzhen.events import Envelope
from wenzhen.rpc_client import RpcTimeout, Subscription
from wenzhen.timez import to_utc_iso

NOW = 1_800_000_000.0


def test_a_revoked_session_is_refused_until_its_tokens_would_have_expired():
    tracker = Revocations(token_ttl=600)
    tracker.revoke("ses_1", until=NOW + 600)
    assert tracker.is_revoked("ses_1", now=NOW) and tracker.is_revoked("ses_1", now=NOW + 600)
    assert not tracker.is_revoked("ses_2", now=NOW)
    assert not tracker.is_revoked(None, now=NOW) and not tracker.is_revoked("", now=NOW)
    assert len(tracker) == 1


def test_an_expired_revocation_is_forgotten():
    tracker = Revocations(token_ttl=600)
    tracker.revoke("ses_1", until=NOW + 600)
    tracker.revoke("ses_2", until=NOW + 900)
    assert not tracker.is_revoked("ses_1", now=NOW + 601)
    assert len(tracker) == 1 and tracker.is_revoked("ses_2", now=NOW + 601)


def test_without_a_time_the_clock_is_used():
    tracker = Revocations(token_ttl=600)
    tracker.revoke("live", until=time.time() + 60)
    tracker.revoke("over", until=time.time() - 1)
    assert tracker.is_revoked("live") and not tracker.is_revoked("over") and len(tracker) == 1


def test_a_second_revocation_never_shortens_the_first():
    tracker = Revocations(token_ttl=600)
    tracker.revoke("ses_1", until=NOW + 600)
    tracker.revoke("ses_1", until=NOW + 100)  # e.g. the catch-up's estimate arriving after the event
    assert tracker.is_revoked("ses_1", now=NOW + 500)
    tracker.revoke("ses_1", until=NOW + 900)
    assert tracker.is_revoked("ses_1", now=NOW + 800)


def session_revoked(session_id: str, expires: datetime) -> dict:
    event = SessionRevoked(account_id="acc_1", session_id=session_id, reason="logout", expires_at=to_utc_iso(expires))
    return Envelope.wrap(event, "acc_1").model_dump(mode="json")


def test_on_event_takes_the_session_and_its_expiry_from_a_session_revoked_envelope():
    tracker = Revocations(token_ttl=600)
    expires = datetime.fromtimestamp(NOW + 600, UTC)
    tracker.on_event(session_revoked("ses_1", expires))
    assert tracker.is_revoked("ses_1", now=NOW + 599) and not tracker.is_revoked("ses_1", now=NOW + 601)


def test_on_event_ignores_envelopes_without_a_session():
    tracker = Revocations(token_ttl=600)
    tracker.on_event({"type": "account_locked", "data": {"login_hash": "x", "until": "2026-01-01T00:00:00Z"}})
    tracker.on_event({})
    assert len(tracker) == 0


def test_the_subscription_delivers_broker_messages_to_on_event():
    tracker = Revocations(token_ttl=600)
    follow = Subscription("identity.events", "session_revoked", tracker.on_event)
    expires = datetime.now(UTC) + timedelta(minutes=10)
    follow.deliver(None, None, None, json.dumps(session_revoked("ses_1", expires)).encode())
    follow.deliver(None, None, None, b"not json")  # logged, not raised
    assert tracker.is_revoked("ses_1")


class FakeRpc:
    def __init__(self, answer, failures: int = 0):
        self.answer, self.failures, self.calls = answer, failures, []

    def call(self, service, method, *args, timeout=None):
        self.calls.append((service, method, args))
        if len(self.calls) <= self.failures:
            raise RpcTimeout("identity is starting")
        return self.answer


def test_catch_up_loads_sessions_revoked_within_the_last_token_lifetime(monkeypatch):
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    revoked_at = datetime.now(UTC) - timedelta(minutes=2)
    rpc = FakeRpc([{"session_id": "ses_1", "revoked_at": to_utc_iso(revoked_at)}], failures=2)
    tracker = Revocations(token_ttl=600)
    tracker.catch_up(rpc)
    assert not tracker.caught_up.is_set()  # the removed links are not loaded yet: tokens are still refused
    tracker.catch_up_links(FakeRpc([]))
    assert tracker.caught_up.is_set() and len(rpc.calls) == 3
    service, method, (since,) = rpc.calls[0]
    assert (service, method) == ("identity", "revoked_sessions")
    asked = datetime.fromisoformat(since.replace("Z", "+00:00"))
    assert timedelta(seconds=620) < datetime.now(UTC) - asked < timedelta(seconds=640)  # ttl + the 30 s leeway
    until = revoked_at.timestamp() + 600 + 30
    assert tracker.is_revoked("ses_1", now=until - 1) and not tracker.is_revoked("ses_1", now=until + 1)


def test_catch_up_gives_up_without_claiming_success(monkeypatch):
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    rpc = FakeRpc([], failures=99)
    tracker = Revocations(token_ttl=600)
    tracker.catch_up(rpc, attempts=3)
    assert len(rpc.calls) == 3 and not tracker.caught_up.is_set()



# unlinked patient records ------------------------------------------------------------------------------------------
def patient(*patients: str) -> Principal:
    return Principal.user("acc_1", Role.patient, sid="ses_1", patients=patients)


def test_a_token_issued_before_an_unlink_no_longer_acts_for_that_record():
    tracker = Revocations(token_ttl=600)
    tracker.unlink("acc_1", "pat_rel", removed_at=NOW)
    current = tracker.current(patient("pat_me", "pat_rel"), issued_at=NOW - 60, now=NOW + 1)
    assert current.patients == ("pat_me",) and not current.acts_for("pat_rel")
    other = Principal.user("acc_2", Role.patient, sid="ses_2", patients=("pat_rel",))  # another account's link
    assert tracker.current(other, issued_at=NOW - 60, now=NOW + 1) is other


def test_a_token_issued_after_the_unlink_keeps_what_it_lists():
    tracker = Revocations(token_ttl=600)
    tracker.unlink("acc_1", "pat_rel", removed_at=NOW)
    relinked = patient("pat_me", "pat_rel")  # linked again afterwards: intake's live links gave the new token it
    assert tracker.current(relinked, issued_at=NOW + 5, now=NOW + 6).patients == ("pat_me", "pat_rel")


def test_an_unlink_is_forgotten_when_no_token_from_before_it_can_still_be_valid():
    tracker = Revocations(token_ttl=600)
    tracker.unlink("acc_1", "pat_rel", removed_at=NOW)
    assert tracker.current(patient("pat_rel"), issued_at=NOW - 1, now=NOW + 629).patients == ()
    assert tracker.current(patient("pat_rel"), issued_at=NOW - 1, now=NOW + 631).patients == ("pat_rel",)
    assert not tracker._unlinked


def test_the_link_subscription_takes_account_patient_and_time_from_intake_s_event():
    tracker = Revocations(token_ttl=600)
    event = Envelope.wrap(PatientLinkRemoved(link_id="lnk_1", account_id="acc_1", patient_id="pat_rel"), "pat_rel")
    tracker.on_unlinked(event.model_dump(mode="json"))
    assert tracker.current(patient("pat_rel"), issued_at=time.time() - 60).patients == ()


def test_links_catch_up_asks_intake_for_the_last_token_lifetime():
    removed_at = datetime.now(UTC) - timedelta(minutes=1)
    rpc = FakeRpc([{"account_id": "acc_1", "patient_id": "pat_rel", "removed_at": to_utc_iso(removed_at)}])
    tracker = Revocations(token_ttl=600)
    tracker.catch_up_links(rpc)
    assert rpc.calls[0][:2] == ("intake", "removed_links") and not tracker.caught_up.is_set()
    tracker.catch_up(FakeRpc([]))
    assert tracker.caught_up.is_set()
    assert tracker.current(patient("pat_rel"), issued_at=removed_at.timestamp() - 5).patients == ()
