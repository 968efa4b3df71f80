"""The audit trail on the running system: every look is recorded, visible to admins and to the patient, exportable
as FHIR AuditEvents, and tampering with it (an altered, deleted or cut-off entry) is reported by the verify command
and the admins' chain check."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from deploy.stack import ROOT
from tests.integration.conftest import wait_until
from wenzhen.audit import Sealer
from wenzhen.ids import to_fhir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def people(stack):
    consultant = stack.staff("consultant")
    doctor = stack.staff("doctor")
    patient = stack.patient()
    # a consultant registers someone on the phone, reads and verifies the record; a doctor with no care
    # relationship tries to read it, and the patient's own record
    record = consultant.as_user.post("/v1/patients", {"name": "电话患者", "sex": "male", "birth_date": "1949-12-31",
                                                      "phone": "13700001234"})
    consultant.as_user.get(f"/v1/patients/{record['id']}")
    consultant.as_user.call("PUT", f"/v1/patients/{record['id']}/identity-document",
                            {"document_type": "resident_id", "number": "110105194912310038"})
    consultant.as_user.post(f"/v1/patients/{record['id']}/identity-verification", {"method": "in_person"})
    for target in (record["id"], patient.id):
        assert doctor.as_user.send("GET", f"/v1/patients/{target}").status == 404
    return {"consultant": consultant, "doctor": doctor, "patient": patient, "record": record}


def audit_cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wenzhen.audit", "verify", *args], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=60)


def test_admins_see_who_did_what_to_a_record(stack, people):
    admin = stack.admin().as_user
    record, consultant, doctor = people["record"], people["consultant"], people["doctor"]
    page = admin.get(f"/v1/audit-events?patient_id={record['id']}&limit=100")
    assert page["incomplete"] == []
    seen = {(e["agent"]["id"], e["subtype"], e["outcome"]) for e in page["items"]}
    assert {(consultant.account_id, "create", "success"), (consultant.account_id, "read", "success"),
            (consultant.account_id, "identity-document", "success"),
            (consultant.account_id, "verify-identity", "success"), (doctor.account_id, "read", "denied")} <= seen
    read = next(e for e in page["items"] if e["agent"]["id"] == consultant.account_id and e["subtype"] == "read")
    assert read["service"] == "intake" and read["action"] == "R" and read["entity"] == {"type": "Patient",
                                                                                         "id": record["id"]}
    assert read["agent"]["role"] == "consultant" and read["purpose"] == "HOPERAT"
    assert read["origin"]["ip"].startswith("10.") and read["origin"]["request_id"]
    assert read["recorded"].endswith("+08:00")
    # paging through the record's own entries (searches add entries about the trail itself, so leave those out)
    query = f"/v1/audit-events?patient_id={record['id']}&entity_type=Patient"
    whole = [e["id"] for e in admin.get(f"{query}&limit=100")["items"]]
    first = admin.get(f"{query}&limit=2")
    rest = admin.get(f"{query}&limit=100&before={first['next_before']}")
    assert [e["id"] for e in first["items"] + rest["items"]] == whole
    # searching is audited too
    assert any(e["entity"]["type"] == "AuditEvent" and e["agent"]["role"] == "admin" for e in page["items"])


def test_a_patient_sees_who_else_looked_at_their_record(stack, people):
    patient, doctor = people["patient"], people["doctor"]
    wait_until(lambda: patient.api.get(f"/v1/patients/{patient.id}/notifications"), what="the welcome SMS")
    log = patient.api.get(f"/v1/patients/{patient.id}/access-log")
    assert log["incomplete"] == []
    entries = log["items"]
    # notify read the contact details to send the welcome SMS; the doctor's attempt was refused
    assert any(e["who"] == {"kind": "service", "name": "Wenzhen notify"} and e["what"] == "Patient"
               and e["outcome"] == "success" for e in entries)
    refused = [e for e in entries if e["who"].get("role") == "doctor"]
    assert refused and refused[0]["outcome"] == "denied" and refused[0]["who"]["name"] == "测试doctor"
    assert refused[0]["who"]["title"] == "主治医师" and refused[0]["purpose"] == "TREAT"
    # the patient's own reads are not listed as someone else's
    assert all(e["who"].get("role") != "patient" for e in entries)
    # another patient's log is not theirs to see
    other = stack.patient()
    assert other.api.send("GET", f"/v1/patients/{patient.id}/access-log").status in (403, 404)
    assert doctor.account_id  # (used above)


def test_the_trail_exports_as_fhir_audit_events(stack, people):
    resp = stack.http.get(f"{stack.url}/v1/audit-events/fhir?patient_id={people['record']['id']}",
                          headers=stack.headers(stack.admin().tokens["access_token"]))
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/fhir+json")
    bundle = resp.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset" and bundle["total"] >= 5
    events = [e["resource"] for e in bundle["entry"]]
    assert all(e["resourceType"] == "AuditEvent" and e["recorded"].endswith("Z") for e in events)
    denied = next(e for e in events if e["outcome"] != "0")
    assert denied["outcome"] == "4" and denied["action"] == "R"
    assert denied["agent"][0]["who"]["identifier"]["value"] == people["doctor"].account_id
    assert {"reference": f"Patient/{to_fhir(people['record']['id'])}"} in [x["what"] for x in denied["entity"]]
    assert denied["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"


def wait_sealed(stack, service: str) -> None:
    wait_until(lambda: stack.db(service)["audit_log"].count_documents({"sealed": False}) == 0,
               what=f"{service}'s audit entries to be sealed")


def test_an_intact_trail_verifies_everywhere(stack, people):
    for service in ("intake", "identity"):
        wait_sealed(stack, service)
    out = audit_cli(stack)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": intact,") == 8
    chains = stack.admin().as_user.get("/v1/audit-chain")
    assert len(chains) == 8 and all(c["intact"] for c in chains), chains


def test_an_altered_entry_is_reported_at_its_link(stack, people):
    log = stack.db("intake")["audit_log"]
    wait_sealed(stack, "intake")
    entry = log.find_one({"patient_id": people["record"]["id"], "subtype": "read", "outcome": "success"})
    try:
        log.update_one({"_id": entry["_id"]}, {"$set": {"agent_id": "acc_somebody_innocent"}})
        out = audit_cli(stack, "--service", "intake")
        assert out.returncode == 1
        assert f"intake: BROKEN at seq {entry['seq']} (entry {entry['_id']}): its content was altered" in out.stdout
        chains = {c["service"]: c for c in stack.admin().as_user.get("/v1/audit-chain")}
        assert not chains["intake"]["intact"] and chains["intake"]["broken_at"] == entry["seq"]
        assert chains["identity"]["intact"]
    finally:
        log.replace_one({"_id": entry["_id"]}, entry)
    assert audit_cli(stack, "--service", "intake").returncode == 0


def test_a_deleted_entry_is_reported_at_the_gap(stack, people):
    log = stack.db("intake")["audit_log"]
    wait_sealed(stack, "intake")
    entry = log.find_one({"patient_id": people["record"]["id"], "subtype": "create"})
    try:
        log.delete_one({"_id": entry["_id"]})
        out = audit_cli(stack, "--service", "intake")
        assert out.returncode == 1
        assert f"intake: BROKEN at seq {entry['seq']}: entry {entry['seq']} is missing" in out.stdout
    finally:
        log.insert_one(entry)
    assert audit_cli(stack, "--service", "intake").returncode == 0


def test_a_cut_off_tail_is_reported(stack, people):
    # pharmacy is quiet (only searches and checks write to its trail), so its last entry stays the last
    stack.admin().as_user.get("/v1/audit-events?limit=1")
    wait_sealed(stack, "pharmacy")
    log = stack.db("pharmacy")["audit_log"]
    last = log.find_one({"sealed": True}, sort=[("seq", -1)])
    try:
        log.delete_one({"_id": last["_id"]})
        out = audit_cli(stack, "--service", "pharmacy")
        assert out.returncode == 1
        assert (f"pharmacy: BROKEN at seq {last['seq']}: entries {last['seq']}..{last['seq']} are missing (the chain "
                f"head records {last['seq']})") in out.stdout
    finally:
        log.insert_one(last)
    assert audit_cli(stack, "--service", "pharmacy").returncode == 0


def test_a_tail_cut_with_its_head_rewound_is_caught_by_the_published_checkpoint(stack, people):
    """Someone who can write pharmacy's database deletes its newest entry and rewinds the head to the one before:
    the chain alone looks whole, but the checkpoint pharmacy published (kept by reports) says otherwise."""
    stack.admin().as_user.get("/v1/audit-events?limit=1")
    wait_sealed(stack, "pharmacy")
    db = stack.db("pharmacy")
    head = db["audit_head"].find_one({"_id": "chain"})
    wait_until(lambda: stack.db("reports")["event_log"].find_one(
        {"source": "pharmacy", "type": "audit_chain_sealed", "envelope.data.seq": head["seq"]}),
        what="pharmacy's checkpoint of its current head")
    # the tampering happens while pharmacy's sealer is held off (its lease taken), as it would be by someone who
    # stopped the service to edit its database: otherwise the sealer chains new entries onto the rewound head
    lease = {"_id": Sealer.lease_name, "owner": "the test", "until": datetime.now(UTC) + timedelta(minutes=2)}
    db["leases"].replace_one({"_id": Sealer.lease_name}, lease, upsert=True)
    time.sleep(1.0)  # a round already under way finishes
    assert db["audit_head"].find_one({"_id": "chain"})["seq"] == head["seq"], "nothing was sealed meanwhile"
    last = db["audit_log"].find_one({"seq": head["seq"]})
    before = db["audit_log"].find_one({"seq": head["seq"] - 1})
    try:
        db["audit_log"].delete_one({"_id": last["_id"]})
        db["audit_head"].update_one({"_id": "chain"}, {"$set": {"seq": before["seq"], "hash": before["hash"]}})
        assert audit_cli(stack, "--service", "pharmacy", "--no-checkpoints").returncode == 0  # the chain alone
        out = audit_cli(stack, "--service", "pharmacy")
        assert out.returncode == 1
        assert (f"pharmacy: BROKEN at seq {head['seq']}: entries {head['seq']}..{head['seq']} are missing: a "
                f"published checkpoint records seq {head['seq']}") in out.stdout
        chains = {c["service"]: c for c in stack.admin().as_user.get("/v1/audit-chain")}
        assert not chains["pharmacy"]["intact"] and chains["pharmacy"]["broken_at"] == head["seq"]
    finally:
        db["audit_log"].insert_one(last)
        db["audit_head"].update_one({"_id": "chain"}, {"$set": {"seq": head["seq"], "hash": head["hash"]}})
        db["leases"].delete_one({"_id": Sealer.lease_name, "owner": "the test"})
    wait_sealed(stack, "pharmacy")
    assert audit_cli(stack, "--service", "pharmacy").returncode == 0


def test_only_admins_search_the_trail(stack, people):
    for session in (people["consultant"], people["doctor"], people["patient"].session):
        assert session.as_user.send("GET", "/v1/audit-events").status == 403
        assert session.as_user.send("GET", "/v1/audit-chain").status == 403
