"""The audit trail's pure parts: entries, the chain's hash, the FHIR view, searching filters and merging.

Sealing and verifying the chain need MongoDB transactions: they are tested in the integration tests.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from pydantic import ValidationError

from tests.fakes import RecordingTx
from wenzhen import audit, ids
from wenzhen.audit import CHAINED, AuditQuery, Outcome, Verdict, canonical, link_hash, merge, to_fhir, view
from wenzhen.auth import ANONYMOUS, Caller, Principal, PurposeOfUse, Role
from wenzhen.crypto import KeyringError

KEY = bytes(range(32))
RECORDED = datetime(2026, 11, 23, 6, 3, 0, 123000, tzinfo=UTC)
ENTRY = {
    "_id": "aud_01JD3Q5X7C9V2B8N4M6K1H0G2F", "recorded": RECORDED, "action": "R", "subtype": "read",
    "outcome": "success", "entity_type": "Patient", "entity_id": "pat_1", "patient_id": "pat_1",
    "agent_kind": "user", "agent_id": "acc_d", "agent_role": "doctor", "purpose": "TREAT", "ip": "203.0.113.5",
    "request_id": "req_1", "detail": None, "sealed": False,
}
DOCTOR = Caller(principal=Principal.user("acc_d", Role.doctor, sid="ses_1"), purpose=PurposeOfUse.ETREAT,
                origin_ip="203.0.113.5", request_id="req_1")
FHIR_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# recording ---------------------------------------------------------------------------------------------------------
def test_record_writes_one_unsealed_entry_naming_the_caller():
    sink = RecordingTx()
    entry_id = audit.record(sink, DOCTOR, audit.READ, "read", "Patient", "pat_1", patient_id="pat_1")
    (entry,) = sink.audited
    assert entry_id.startswith("aud_") and set(entry) == {*CHAINED, "sealed"}
    assert entry["sealed"] is False and entry["recorded"].tzinfo is not None
    assert {k: entry[k] for k in CHAINED if k not in ("_id", "recorded")} == {
        "action": "R", "subtype": "read", "outcome": "success", "entity_type": "Patient", "entity_id": "pat_1",
        "patient_id": "pat_1", "agent_kind": "user", "agent_id": "acc_d", "agent_role": "doctor",
        "purpose": "ETREAT", "ip": "203.0.113.5", "request_id": "req_1", "detail": None}


def test_record_of_anonymous_and_service_callers():
    sink = RecordingTx()
    audit.record(sink, Caller(), audit.EXECUTE, "login", "Account", None, outcome=Outcome.failed)
    audit.record(sink, Caller.service("notify"), audit.READ, "read", "Patient", "pat_1", detail="contact")
    anonymous, service = sink.audited
    assert (anonymous["agent_kind"], anonymous["agent_id"], anonymous["agent_role"]) == ("anonymous", None, None)
    assert anonymous["outcome"] == "failed" and anonymous["purpose"] == "HOPERAT"
    assert (service["agent_kind"], service["agent_id"], service["agent_role"]) == ("service", "notify", None)
    assert service["detail"] == "contact"


def test_the_audit_key_must_be_32_bytes_of_base64():
    assert audit.key_from_env({"WENZHEN_AUDIT_KEY": base64.b64encode(KEY).decode()}) == KEY
    with pytest.raises(KeyringError, match="not set"):
        audit.key_from_env({})
    with pytest.raises(KeyringError, match="not set"):
        audit.key_from_env({"WENZHEN_AUDIT_KEY": base64.b64encode(bytes(31)).decode()})
    with pytest.raises(KeyringError, match="not base64"):
        audit.key_from_env({"WENZHEN_AUDIT_KEY": "not base64!"})


# the chain's hash --------------------------------------------------------------------------------------------------
def test_canonical_is_sorted_compact_json_of_the_chained_fields():
    text = canonical(ENTRY, 7, "ab" * 32)
    decoded = json.loads(text)
    assert decoded["seq"] == 7 and decoded["prev"] == "ab" * 32
    assert set(decoded["entry"]) == set(CHAINED) and decoded["entry"]["recorded"] == "2026-11-23T06:03:00.123Z"
    assert text == json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_link_hash_is_hmac_sha256_of_the_canonical_form():
    expected = hmac.new(KEY, canonical(ENTRY, 1, audit.GENESIS), hashlib.sha256).hexdigest()
    assert link_hash(KEY, ENTRY, 1, audit.GENESIS) == expected and re.fullmatch(r"[0-9a-f]{64}", expected)


def test_the_hash_is_stable_across_field_order_bookkeeping_and_time_zone():
    digest = link_hash(KEY, ENTRY, 3, audit.GENESIS)
    assert link_hash(KEY, dict(reversed(list(ENTRY.items()))), 3, audit.GENESIS) == digest
    sealed = {**ENTRY, "sealed": True, "seq": 3, "prev": audit.GENESIS, "hash": digest}
    assert link_hash(KEY, sealed, 3, audit.GENESIS) == digest  # what the sealer adds is not hashed
    naive = {**ENTRY, "recorded": RECORDED.replace(tzinfo=None)}  # how a driver without tz_aware returns it
    shanghai = {**ENTRY, "recorded": RECORDED.astimezone(timezone(timedelta(hours=8)))}
    assert link_hash(KEY, naive, 3, audit.GENESIS) == digest == link_hash(KEY, shanghai, 3, audit.GENESIS)


CHANGED = {"_id": "aud_01JD3Q5X7C9V2B8N4M6K1H0G2G", "recorded": RECORDED + timedelta(milliseconds=1),
           "action": "U", "subtype": "update", "outcome": "denied", "entity_type": "Account", "entity_id": "pat_2",
           "patient_id": "pat_2", "agent_kind": "service", "agent_id": "acc_x", "agent_role": "admin",
           "purpose": "ETREAT", "ip": "203.0.113.6", "request_id": "req_2", "detail": "name"}


@pytest.mark.parametrize("field", CHAINED)
def test_changing_any_chained_field_changes_the_hash(field):
    assert set(CHANGED) == set(CHAINED)
    assert link_hash(KEY, {**ENTRY, field: CHANGED[field]}, 3, audit.GENESIS) != link_hash(KEY, ENTRY, 3,
                                                                                          audit.GENESIS)


@pytest.mark.parametrize("field", [f for f in CHAINED if f not in ("_id", "recorded")])
def test_blanking_a_chained_field_changes_the_hash(field):
    blanked = {k: v for k, v in ENTRY.items() if k != field}
    if ENTRY[field] is None:
        blanked[field] = ""
    assert link_hash(KEY, blanked, 3, audit.GENESIS) != link_hash(KEY, ENTRY, 3, audit.GENESIS)


def test_the_position_the_previous_link_and_the_key_are_in_the_hash():
    digest = link_hash(KEY, ENTRY, 3, audit.GENESIS)
    assert link_hash(KEY, ENTRY, 4, audit.GENESIS) != digest
    assert link_hash(KEY, ENTRY, 3, "f" * 64) != digest
    assert link_hash(bytes(32), ENTRY, 3, audit.GENESIS) != digest


def test_the_sealed_flag_is_not_in_the_hash():
    assert link_hash(KEY, {**ENTRY, "sealed": True}, 3, audit.GENESIS) == link_hash(KEY, ENTRY, 3, audit.GENESIS)
    assert b"sealed" not in canonical(ENTRY, 3, audit.GENESIS)


def test_personal_text_in_detail_is_hashed_as_utf8():
    text = canonical({**ENTRY, "detail": "联系人"}, 1, audit.GENESIS)
    assert "联系人".encode() in text


# showing -----------------------------------------------------------------------------------------------------------
def entry_view(caller: Caller = DOCTOR, action=audit.READ, subtype="read", entity_type="Patient",
               entity_id="pat_1", patient_id="pat_1", outcome=Outcome.success, detail=None) -> dict:
    sink = RecordingTx()
    audit.record(sink, caller, action, subtype, entity_type, entity_id, patient_id=patient_id, outcome=outcome,
                 detail=detail)
    return view(sink.audited[0], "intake")


def test_the_view_shows_the_entry_in_the_hospital_zone():
    item = view({**ENTRY, "seq": 5}, "intake")
    assert item["recorded"] == "2026-11-23T14:03:00.123+08:00" and item["service"] == "intake"
    assert item["agent"] == {"kind": "user", "id": "acc_d", "role": "doctor"} and item["seq"] == 5
    assert item["entity"] == {"type": "Patient", "id": "pat_1"}
    assert item["origin"] == {"ip": "203.0.113.5", "request_id": "req_1"}


def test_to_fhir_is_an_r4_audit_event():
    item = entry_view()
    event = to_fhir(item)
    assert event["resourceType"] == "AuditEvent" and event["id"] == ids.to_fhir(item["id"])
    AuditEvent.model_validate(event)  # R4B, as the FHIR interface serves it
    assert event["action"] == "R" and event["outcome"] == "0" and "outcomeDesc" not in event
    assert FHIR_INSTANT.match(event["recorded"])
    assert datetime.fromisoformat(event["recorded"].replace("Z", "+00:00")) == datetime.fromisoformat(
        item["recorded"])
    assert event["type"]["system"] == "http://terminology.hl7.org/CodeSystem/audit-event-type"
    assert event["type"]["code"] == "rest" and event["subtype"] == [{"system": "urn:wenzhen:audit-subtype",
                                                                      "code": "read"}]
    assert event["purposeOfEvent"] == [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                                    "code": "ETREAT"}]}]
    (agent,) = event["agent"]
    assert agent["who"] == {"identifier": {"system": "urn:wenzhen:account", "value": "acc_d"}}
    assert agent["requestor"] is True and agent["role"][0]["coding"][0]["code"] == "doctor"
    assert agent["network"] == {"address": "203.0.113.5", "type": "2"}
    assert event["source"]["observer"] == {"display": "wenzhen/intake"}
    assert event["extension"] == [{"url": "urn:wenzhen:fhir:request-id", "valueString": "req_1"}]
    record, person = event["entity"]
    assert record["what"] == {"reference": "Patient/pat-1"} and record["type"]["code"] == "2"
    assert person["what"] == {"reference": "Patient/pat-1"} and person["type"]["code"] == "1"
    assert person["role"]["code"] == "1" and person["role"]["display"] == "Patient"
    json.dumps(event)  # plain JSON, nothing else


@pytest.mark.parametrize(("outcome", "code"), [(Outcome.denied, "4"), (Outcome.failed, "4")])
def test_to_fhir_outcome_codes_for_refusals_and_failures(outcome, code):
    event = to_fhir(entry_view(outcome=outcome))
    assert event["outcome"] == code and event["outcomeDesc"] == outcome.value


def test_to_fhir_of_a_sign_in_uses_the_dicom_user_authentication_codes():
    event = to_fhir(entry_view(action=audit.EXECUTE, subtype="login", entity_type="Account", entity_id="acc_d",
                               patient_id=None))
    assert event["type"]["code"] == "110114" and event["subtype"][0]["code"] == "110122"
    assert event["action"] == "E"
    (entity,) = event["entity"]  # no patient involved
    assert entity["what"] == {"identifier": {"system": "urn:wenzhen:Account", "value": "acc_d"}}
    assert to_fhir(entry_view(action=audit.EXECUTE, subtype="logout", entity_type="Account",
                              patient_id=None))["subtype"][0]["code"] == "110123"


def test_to_fhir_of_service_and_anonymous_agents_and_searches():
    service = to_fhir(entry_view(caller=Caller.service("notify"), entity_type="Notification", entity_id=None))
    (agent,) = service["agent"]
    assert agent["who"] == {"identifier": {"system": "urn:wenzhen:service", "value": "notify"}}
    assert "role" not in agent and "network" not in agent and "extension" not in service
    (entity,) = service["entity"]  # a search has no entity id: only the patient it was about
    assert entity["what"] == {"reference": "Patient/pat-1"}
    anonymous = to_fhir(entry_view(caller=Caller(principal=ANONYMOUS), patient_id=None))
    assert anonymous["agent"][0]["who"]["identifier"] == {"system": "urn:wenzhen:anonymous", "value": "anonymous"}


def test_merge_orders_several_services_pages_newest_first_and_cuts_at_the_limit():
    intake = [{"id": "aud_05", "service": "intake"}, {"id": "aud_03", "service": "intake"}]
    identity = [{"id": "aud_06", "service": "identity"}, {"id": "aud_04", "service": "identity"},
                {"id": "aud_01", "service": "identity"}]
    notify = [{"id": "aud_02", "service": "notify"}]
    assert [i["id"] for i in merge([intake, identity, notify], 10)] == [f"aud_0{n}" for n in range(6, 0, -1)]
    assert [i["id"] for i in merge([intake, identity, notify], 3)] == ["aud_06", "aud_05", "aud_04"]
    assert merge([[], []], 5) == [] and merge([], 5) == []


# searching ---------------------------------------------------------------------------------------------------------
def test_an_empty_query_matches_everything():
    assert AuditQuery().mongo_filter() == {} and AuditQuery().limit == 50


def test_the_query_filters_are_combined():
    since = datetime(2026, 11, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    query = AuditQuery(patient_id="pat_1", entity_type="Patient", entity_id="pat_1", agent_id="acc_d",
                       since=since, until=datetime(2026, 11, 2), before="aud_09")
    assert query.mongo_filter() == {
        "patient_id": "pat_1", "entity_type": "Patient", "entity_id": "pat_1", "agent_id": "acc_d",
        "recorded": {"$gte": datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "$lt": datetime(2026, 11, 2, tzinfo=UTC)},
        "_id": {"$lt": "aud_09"}}


@pytest.mark.parametrize("bad", [{"limit": 0}, {"limit": 201}, {"patient_id": "p" * 65}, {"agent": "x"},
                                 {"since": "yesterday"}])
def test_bad_queries_are_refused(bad):
    with pytest.raises(ValidationError):
        AuditQuery.model_validate(bad)


def test_verdict_lines():
    intact = Verdict(service="intake", entries=3, head_seq=3, intact=True)
    assert intact.line() == "intake: intact, 3 entries (head seq 3)"
    broken = Verdict(service="intake", entries=1, head_seq=3, intact=False, broken_at=2, broken_entry="aud_2",
                     reason="its content was altered (hash mismatch)", unsealed=4)
    assert broken.line() == ("intake: BROKEN at seq 2 (entry aud_2): its content was altered (hash mismatch); "
                             "4 not yet sealed")


def test_a_patient_s_query_leaves_out_their_own_entries():
    query = AuditQuery(patient_id="pat_1", exclude_agent_id="acc_p")
    assert query.mongo_filter() == {"patient_id": "pat_1", "agent_id": {"$ne": "acc_p"}}  # applied: test_audit_db.py
