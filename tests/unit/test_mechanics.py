import importlib

from gateway.problems import REMOTE_ERRORS, from_remote
from wenzhen import errors, faults, ids, logs


def test_ids_are_prefixed_and_time_ordered():
    a, b = ids.new_id("pat"), ids.new_id("pat")
    assert a.startswith("pat_") and len(a) == 30
    assert a[:14] <= b[:14]


def test_ids_made_in_one_millisecond_keep_the_order_they_were_made_in():
    # a tie of equal times (two joins of a waitlist in one millisecond) is broken by the id: random parts would not
    made = [ids.new_id("wl") for _ in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)


def test_logs_mask_phone_numbers_and_resident_ids():
    text = logs.redact("call 13812345678 or +8613912345678, id 11010519491231002X")
    assert "1381234" not in text and "1391234" not in text and "110105" not in text


def test_every_declared_service_error_has_an_http_status():
    from wenzhen.service import _declared

    declared = {f"{cls.__module__}.{cls.__name__}" for cls in _declared(errors.ServiceError)} - {
        "wenzhen.errors.ServiceError"}
    assert declared == set(REMOTE_ERRORS)
    problem = from_remote("wenzhen.errors.Conflict", {"detail": "dup", "errors": [errors.field_error("phone", "x")]})
    assert problem.status == 409 and problem.errors[0]["field"] == "phone"
    assert from_remote("builtins.KeyError", {}) is None


def test_fault_rules_fail_n_times_per_key(monkeypatch):
    monkeypatch.setenv("WENZHEN_FAULTS", "handler:svc.h=fail:2")
    importlib.reload(faults)
    outcomes = []
    for _ in range(3):
        try:
            faults.maybe_fail("handler:svc.h", key="e1")
            outcomes.append("ok")
        except faults.InjectedFault:
            outcomes.append("fail")
    assert outcomes == ["fail", "fail", "ok"]
    faults.maybe_fail("handler:other", key="e1")  # no rule: nothing happens
    monkeypatch.delenv("WENZHEN_FAULTS")
    importlib.reload(faults)


def test_a_callee_s_declared_error_reaches_the_calling_service_as_itself():
    """Nameko serializes an entrypoint's error; the service that made the call gets the same class back (not a
    RemoteError), so it passes on to the gateway's table unchanged — at every call site, with nothing to map."""
    from nameko.exceptions import deserialize, serialize

    from wenzhen.service import CallTimeout, _declared

    for cls in _declared(errors.ServiceError):
        sent = cls("The slot is fully booked.", [errors.field_error("slot_id", "full", "full")]) \
            if cls is not errors.TooManyRequests else cls("Slow down.", retry_after=7)
        back = deserialize(serialize(sent))
        assert type(back) is cls and back.payload == sent.payload
    assert isinstance(deserialize(serialize(CallTimeout("late"))), errors.Unavailable)


def test_one_parser_for_times_that_crossed_a_process():
    from datetime import UTC, datetime

    from wenzhen.timez import parse_iso

    at = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)
    assert parse_iso("2026-03-09T00:30:00Z") == at == parse_iso("2026-03-09T08:30:00+08:00")
    assert parse_iso("2026-03-09T00:30:00") == at and parse_iso("2026-03-09T08:30:00.000+08:00").tzinfo == UTC
