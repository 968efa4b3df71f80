"""records through the gateway against the real broker and database: an encounter opened from a booked appointment
by its doctor (records hears of the booking from booking's events), the report written as a draft, signed (hashed,
immutable), amended (a new version; the original stays readable), the encounter closed; who may read and write it;
every read audited and shown in the patient's access log; no clinical text in the events or at rest."""
from __future__ import annotations

from datetime import date

import pytest

from contracts.intake.documents import resident_id_check_char
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration

REPORT = {"condition_analysis": "尿频尿急两周，无发热。\n前列腺按摩液白细胞增多。",
          "diagnoses": [{"code": "N41.1", "text": "慢性前列腺炎"}],
          "treatment_plan": "多饮水，规律作息。", "cautions": "忌酒及辛辣。", "follow_up_advice": "两周后复诊。",
          "follow_up_in_days": 14}


@pytest.fixture(scope="module")
def visit(stack):
    return new_visit(stack)


def new_visit(stack) -> dict:
    visit = stack.visit()
    assert visit["appointment"]["status"] == "confirmed"
    return visit


def test_an_encounter_from_open_to_amended_keeps_every_signed_version(stack, visit):
    doctor, patient = visit["doctor"].as_user, visit["patient"]
    other_doctor = stack.staff("doctor").as_user
    stranger = stack.patient()

    assert other_doctor.send("POST", "/v1/encounters", {"appointment_id": visit["appointment"]["id"]}).status == 404
    wrong_mode = doctor.send("POST", "/v1/encounters", {"appointment_id": visit["appointment"]["id"], "mode": "video"})
    assert wrong_mode.status == 422 and wrong_mode.body["errors"][0]["field"] == "mode"
    opened = doctor.send("POST", "/v1/encounters", {"appointment_id": visit["appointment"]["id"]})
    assert opened.status == 201, opened.body
    encounter = opened.body
    eid = encounter["id"]
    assert encounter["mode"] == "in_person" and not encounter["follow_up"] and encounter["status"] == "open"
    again = doctor.send("POST", "/v1/encounters", {"appointment_id": visit["appointment"]["id"]})
    assert again.status == 409 and again.body["errors"][0]["field"] == "appointment_id"

    # the draft: the doctor's own; signing names what is missing
    incomplete = doctor.send("PUT", f"/v1/encounters/{eid}/report", {"treatment_plan": "观察。"})
    assert incomplete.status == 200 and incomplete.body["draft"]["treatment_plan"] == "观察。"
    refused = doctor.send("POST", f"/v1/encounters/{eid}/report/sign")
    assert refused.status == 422
    assert {e["field"] for e in refused.body["errors"]} == {"condition_analysis", "diagnoses"}
    unknown = doctor.send("PUT", f"/v1/encounters/{eid}/report", {**REPORT, "diagnoses": [{"code": "Z99.8",
                                                                                            "text": "?"}]})
    assert unknown.status == 200
    assert doctor.send("POST", f"/v1/encounters/{eid}/report/sign").body["errors"][0]["field"] == "diagnoses[0].code"
    assert other_doctor.send("PUT", f"/v1/encounters/{eid}/report", REPORT).status == 404
    assert patient.api.send("PUT", f"/v1/encounters/{eid}/report", REPORT).status == 403  # patients never write
    assert doctor.send("PUT", f"/v1/encounters/{eid}/report", REPORT).status == 200
    seen = patient.api.get(f"/v1/encounters/{eid}")
    assert seen["draft"] is None and seen["report"] == []  # nothing signed yet, and the draft is not theirs to see

    signed = doctor.send("POST", f"/v1/encounters/{eid}/report/sign")
    assert signed.status == 200, signed.body
    (v1,) = signed.body["report"]
    assert v1["version"] == 1 and len(v1["content_hash"]) == 64 and v1["content"]["diagnoses"][0]["code"] == "N41.1"
    assert v1["content"]["condition_analysis"] == REPORT["condition_analysis"] and signed.body["draft"] is None
    assert doctor.send("PUT", f"/v1/encounters/{eid}/report", REPORT).status == 409  # immutable once signed
    assert doctor.send("POST", f"/v1/encounters/{eid}/report/sign").status == 409

    # an amendment: a new version beside the original
    corrected = {**REPORT, "diagnoses": [{"code": "N41.1", "text": "慢性前列腺炎（III型）"}]}
    unchanged = doctor.send("POST", f"/v1/encounters/{eid}/amendments", {"reason": "no change", "content": REPORT})
    assert unchanged.status == 422 and unchanged.body["errors"][0]["field"] == "content"
    amended = doctor.send("POST", f"/v1/encounters/{eid}/amendments", {"reason": "分型补充", "content": corrected})
    assert amended.status == 201, amended.body
    first, second = amended.body["report"]
    assert first == v1 and second["version"] == 2 and second["reason"] == "分型补充"
    assert second["content_hash"] != v1["content_hash"]

    closed = doctor.send("POST", f"/v1/encounters/{eid}/close")
    assert closed.status == 200 and closed.body["status"] == "closed" and closed.body["closed_at"]
    assert doctor.send("POST", f"/v1/encounters/{eid}/close").status == 409
    late = doctor.send("POST", f"/v1/encounters/{eid}/amendments", {"reason": "笔误", "content": REPORT})
    assert late.status == 201 and [v["version"] for v in late.body["report"]] == [1, 2, 3]  # closed: still amendable

    # readers: the patient and the doctor; nobody else (a stranger's 404 tells nothing)
    mine = patient.api.get(f"/v1/encounters/{eid}")
    assert [v["version"] for v in mine["report"]] == [1, 2, 3] and mine["report"][0] == v1
    assert [e["id"] for e in patient.api.get(f"/v1/encounters?patient_id={patient.id}")] == [eid]
    assert stranger.api.send("GET", f"/v1/encounters/{eid}").status == 404
    assert stranger.api.send("GET", f"/v1/encounters?patient_id={patient.id}").status == 403
    assert other_doctor.send("GET", f"/v1/encounters/{eid}").status == 404
    assert other_doctor.send("GET", f"/v1/encounters?patient_id={patient.id}").status == 403
    assert [e["id"] for e in doctor.get("/v1/encounters")][:1] == [eid]

    # what is stored and published: no clinical text anywhere but in ciphertext
    db = stack.db("records")
    stored = [db["encounters"].find_one({"_id": eid}), *db["report_versions"].find({"encounter_id": eid})]
    assert len(stored) == 4 and all("前列腺" not in repr(d) for d in stored)
    events = list(db["outbox"].find({"subject": eid}).sort("sequence", 1))
    assert [(e["sequence"], e["type"]) for e in events] == [
        (1, "encounter_opened"), (2, "report_signed"), (3, "record_amended"), (4, "encounter_closed"),
        (5, "record_amended")]
    assert all("前列腺" not in repr(e["envelope"]) for e in events)
    signed_event = events[1]["envelope"]["data"]
    assert signed_event["follow_up_in_days"] == 14 and signed_event["diagnoses"] == 1
    assert signed_event["content_hash"] == v1["content_hash"]

    # every read audited, a refused one too; the patient sees the doctor's reads
    audit = db["audit_log"]
    assert audit.count_documents({"entity_id": eid, "action": "R", "outcome": "denied"}) >= 2
    log = patient.api.get(f"/v1/patients/{patient.id}/access-log")
    assert any(i["what"] == "Encounter" and i["who"].get("role") == "doctor" for i in log["items"])


def verified(stack, patient, staff) -> None:
    """The patient records a resident ID; a staff member caring for them verifies it (real name, for prescribing)."""
    born = date.fromisoformat(patient.record["birth_date"])
    first17 = f"110101{born:%Y%m%d}{next(_serials):03d}"[:17]
    if int(first17[16]) % 2 == 1:  # the sex digit: even for a woman
        first17 = first17[:16] + str((int(first17[16]) + 1) % 10)
    patient.api.call("PUT", f"/v1/patients/{patient.id}/identity-document",
                     {"document_type": "resident_id", "number": first17 + resident_id_check_char(first17)})
    staff.post(f"/v1/patients/{patient.id}/identity-verification", {"method": "in_person"})


_serials = iter(range(100, 999, 2))  # even: the sex digit (a woman) needs no change, so no two collide
RX = {"items": [{"drug_code": "TAM-02-CAP", "dose": "0.2 mg", "route": "oral", "frequency": "qd", "days": 7,
                 "quantity": 1, "instructions": "睡前服用"}], "diagnoses": ["N40"]}


def test_a_prescription_takes_effect_only_when_a_pharmacist_approves_it(stack):
    v = new_visit(stack)
    doctor, patient, stranger = v["doctor"].as_user, v["patient"], stack.patient()
    pharmacist, other_pharmacist = stack.staff("pharmacist").as_user, stack.staff("pharmacist").as_user
    eid = doctor.post("/v1/encounters", {"appointment_id": v["appointment"]["id"]})["id"]

    refused = doctor.send("POST", f"/v1/encounters/{eid}/prescriptions", RX)
    assert refused.status == 422 and [(e["type"], e["field"]) for e in refused.body["errors"]] == [
        ("real_name", "patient_id")]
    verified(stack, patient, doctor)
    bad = doctor.send("POST", f"/v1/encounters/{eid}/prescriptions",
                      {**RX, "items": [{**RX["items"][0], "days": 10}, {**RX["items"][0], "drug_code": "NOPE-9"}]})
    assert bad.status == 422 and {(e["type"], e["field"]) for e in bad.body["errors"]} == {
        ("days_supply", "items[0].days"), ("formulary", "items[1].drug_code")}
    assert stack.db("records")["prescriptions"].count_documents({"encounter_id": eid}) == 0  # nothing stored

    # an image kept with the encounter: encrypted at rest, read back by the patient, never by a stranger
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    kept = doctor.send("POST", f"/v1/encounters/{eid}/attachments?name=%E8%88%8C%E8%8B%94.png", png)  # 舌苔.png
    assert kept.status == 201 and kept.body["content_type"] == "image/png" and kept.body["size"] == len(png)
    assert kept.body["name"] == "舌苔.png"
    assert doctor.send("POST", f"/v1/encounters/{eid}/attachments?name=x.exe", b"MZ\x90\x00" * 10).status == 422
    path = f"/v1/encounters/{eid}/attachments/{kept.body['id']}"
    import urllib.request
    request = urllib.request.Request(patient.api.base + path, headers={"Authorization": f"Bearer {patient.api.token}"})
    with urllib.request.urlopen(request) as resp:
        assert resp.read() == png and resp.headers["Content-Type"] == "image/png"
    assert stranger.api.send("GET", path).status == 404
    assert [a["id"] for a in patient.api.get(f"/v1/encounters/{eid}")["attachments"]] == [kept.body["id"]]
    chat = patient.api.post("/v1/consultations", {"message": "医生您好，这是上次的化验单", "patient_id": patient.id})
    cid = chat["consultation"]["id"]
    shared = patient.api.post(f"/v1/consultations/{cid}/attachments?name=lab.png", png)["items"][0]["attachment"]
    copied = doctor.send("POST", f"/v1/encounters/{eid}/attachments/from-chat",
                         {"consultation_id": cid, "attachment_id": shared["id"]})
    assert copied.status == 201 and copied.body["from_consultation"] == cid and copied.body["size"] == len(png)
    theirs = stranger.api.post("/v1/consultations", {"message": "别人的咨询", "patient_id": stranger.id})
    sid = theirs["consultation"]["id"]
    their_file = stranger.api.post(f"/v1/consultations/{sid}/attachments?name=x.png", png)["items"][0]["attachment"]
    assert doctor.send("POST", f"/v1/encounters/{eid}/attachments/from-chat",
                       {"consultation_id": sid, "attachment_id": their_file["id"]}).status == 404
    blob = stack.db("records")["encounter_file_blobs.chunks"].find_one()
    assert blob is not None and png[8:40] not in bytes(blob["data"])

    signed = doctor.send("POST", f"/v1/encounters/{eid}/prescriptions", RX)
    assert signed.status == 201, signed.body
    rx = signed.body
    assert rx["status"] == "pending_review" and rx["items"][0]["name"] == "盐酸坦索罗辛缓释胶囊"
    assert rx["total_fen"] == 3870 and rx["validity_days"] == 1 and rx["retention"]["years"] == 1
    assert patient.api.get(f"/v1/prescriptions/{rx['id']}")["status"] == "pending_review"
    assert stranger.api.send("GET", f"/v1/prescriptions/{rx['id']}").status == 404
    assert doctor.send("POST", f"/v1/prescriptions/{rx['id']}/review", {"outcome": "approve"}).status == 403

    queue = pharmacist.get("/v1/prescriptions?status=pending_review&limit=200")
    assert rx["id"] in [q["id"] for q in queue]
    no_reason = pharmacist.send("POST", f"/v1/prescriptions/{rx['id']}/review", {"outcome": "reject"})
    assert no_reason.status == 422 and no_reason.body["errors"][0]["field"] == "reason"
    approved = pharmacist.send("POST", f"/v1/prescriptions/{rx['id']}/review", {"outcome": "approve"})
    assert approved.status == 200 and approved.body["status"] == "took_effect"
    again = other_pharmacist.send("POST", f"/v1/prescriptions/{rx['id']}/review",
                                  {"outcome": "reject", "reason": "dose"})
    assert again.status == 404  # out of the queue: not theirs to see any more

    # a second prescription, rejected: it never takes effect
    second = doctor.post(f"/v1/encounters/{eid}/prescriptions",
                         {**RX, "items": [{**RX["items"][0], "drug_code": "FIN-5-TAB", "dose": "5 mg"}]})
    rejected = pharmacist.post(f"/v1/prescriptions/{second['id']}/review",
                               {"outcome": "reject", "reason": "indication", "note": "诊断与用药不符"})
    assert rejected["status"] == "rejected" and rejected["review"]["note"] == "诊断与用药不符"
    assert pharmacist.send("POST", f"/v1/prescriptions/{second['id']}/review", {"outcome": "approve"}).status == 409
    duplicate = doctor.send("POST", f"/v1/encounters/{eid}/prescriptions", RX)  # the first is in effect now
    assert duplicate.status == 422 and duplicate.body["errors"][0]["type"] == "duplicate_therapy"

    extended = doctor.post(f"/v1/prescriptions/{rx['id']}/extend", {"validity_days": 3, "reason": "患者后天到院取药"})
    assert extended["validity_days"] == 3
    from fhir.resources.R4B.bundle import Bundle

    from wenzhen.ids import to_fhir
    as_fhir = Bundle.model_validate(patient.api.get(f"/fhir/MedicationRequest?patient={to_fhir(patient.id)}"))
    statuses = {e.resource.groupIdentifier.value: e.resource.status for e in as_fhir.entry}
    assert statuses == {rx["id"]: "active", second["id"]: "cancelled"}
    [mine] = [e.resource for e in as_fhir.entry if e.resource.groupIdentifier.value == rx["id"]]
    assert mine.dispenseRequest.expectedSupplyDuration.value == 7 and mine.dispenseRequest.validityPeriod.end
    assert [p["id"] for p in patient.api.get(f"/v1/prescriptions?patient_id={patient.id}")] == [second["id"], rx["id"]]

    admin = stack.admin().as_user
    held = admin.send("POST", f"/v1/patients/{patient.id}/legal-hold", {"reason": "医疗纠纷，法院调取病历"})
    assert held.status == 201 and held.body["active"]
    assert admin.send("POST", f"/v1/patients/{patient.id}/legal-hold", {"reason": "again"}).status == 409
    kept = admin.get(f"/v1/patients/{patient.id}/retention")
    assert kept["encounters"] == 1 and kept["prescriptions"] == 2 and kept["hold"]["reason"] == "医疗纠纷，法院调取病历"
    assert int(kept["records_until"][:4]) == int(rx["signed_at"][:4]) + 15
    released = admin.post(f"/v1/patients/{patient.id}/legal-hold/release", {"reason": "纠纷已结案"})
    assert not released["active"] and admin.get(f"/v1/patients/{patient.id}/retention")["hold"] is None
    assert doctor.send("GET", f"/v1/patients/{patient.id}/retention").status == 403

    db = stack.db("records")
    events = [(e["subject"], e["type"]) for e in db["outbox"].find({"subject": {"$in": [rx["id"], second["id"]]}})
              .sort([("subject", 1), ("sequence", 1)])]
    assert (rx["id"], "prescription_took_effect") in events and (second["id"], "prescription_rejected") in events
    assert not any(t == "prescription_took_effect" and s == second["id"] for s, t in events)
    stored = db["prescriptions"].find_one({"_id": rx["id"]})
    assert "坦索罗辛" not in repr(stored) and "睡前" not in repr(stored)  # what was signed is ciphertext at rest
    assert all("坦索罗辛" not in repr(e["envelope"]) for e in db["outbox"].find({"subject": rx["id"]}))


def test_the_code_lists_are_maintained_with_revisions(stack):
    manager, pharmacist, doctor = (stack.staff(r).as_user for r in ("manager", "pharmacist", "doctor"))
    found = doctor.get("/v1/codes/icd10?q=%E9%AB%98%E8%A1%80%E5%8E%8B")  # 高血压
    assert [c["code"] for c in found] == ["I10"] and found[0]["chronic"]
    code = f"Z{next(_serials) % 100:02d}.{next(_serials) % 10}"
    body = {"name": "测试诊断", "name_en": "A test diagnosis", "chronic": False}
    created = manager.send("PUT", f"/v1/codes/icd10/{code}", body)
    assert created.status == 200 and created.body["revision"] == 1
    assert manager.send("PUT", f"/v1/codes/icd10/{code}", body).status == 409  # exists: name the revision
    changed = manager.send("PUT", f"/v1/codes/icd10/{code}?revision=1", {**body, "active": False})
    assert changed.status == 200 and changed.body["revision"] == 2 and not changed.body["active"]
    assert manager.send("PUT", f"/v1/codes/icd10/{code}?revision=1", body).status == 409  # stale
    assert pharmacist.send("PUT", f"/v1/codes/icd10/{code}?revision=2", body).status == 403
    assert manager.send("PUT", "/v1/codes/icd10/not-a-code", body).status == 422
    drug = pharmacist.get("/v1/formulary/AMX-250-CAP")
    assert drug["categories"] == ["antimicrobial"] and drug["price_fen"] == 1250
    raised = pharmacist.send("PUT", f"/v1/formulary/AMX-250-CAP?revision={drug['revision']}",
                             {**{k: v for k, v in drug.items() if k not in ("code", "revision")}, "price_fen": 1300})
    assert raised.status == 200 and raised.body["price_fen"] == 1300
    assert manager.send("PUT", "/v1/formulary/AMX-250-CAP?revision=9", {}).status == 403


FHIR = {"Content-Type": "application/fhir+json"}


def test_results_from_a_laboratory_and_the_fhir_interface(stack):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    from tests.unit.records.results.lab import lab_bundle
    from wenzhen.ids import to_fhir

    v = new_visit(stack)
    doctor, patient, stranger = v["doctor"].as_user, v["patient"], stack.patient()
    lab = stack.staff("lab").as_user
    eid = doctor.post("/v1/encounters", {"appointment_id": v["appointment"]["id"]})["id"]
    order = doctor.send("POST", f"/v1/encounters/{eid}/orders", {"tests": ["肾功能", "尿常规"]})
    assert order.status == 201 and order.body["status"] == "active"
    oid = order.body["id"]
    assert oid in [o["id"] for o in lab.get("/v1/orders?limit=200")]  # the laboratory's work list

    # a Bundle for another patient, or malformed: an OperationOutcome naming it, and nothing stored
    wrong = lab.send("POST", "/fhir", lab_bundle(oid, stranger.id), headers=FHIR)
    assert wrong.status == 422 and wrong.headers["Content-Type"].startswith("application/fhir+json")
    outcome = OperationOutcome.model_validate(wrong.body)
    assert outcome.issue[0].expression == ["subject"]
    broken = lab_bundle(oid, patient.id)
    broken["entry"][1]["resource"]["valueQuantity"]["value"] = "lots"
    bad = lab.send("POST", "/fhir", broken, headers=FHIR)
    assert bad.status == 422 and bad.body["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.valueQuantity.value"]
    assert stack.db("records")["results"].count_documents({"order_id": oid}) == 0
    assert lab.send("POST", "/fhir", b"not json", headers=FHIR).status == 400
    assert patient.api.send("POST", "/fhir", lab_bundle(oid, patient.id), headers=FHIR).status == 403

    posted = lab.send("POST", "/fhir", lab_bundle(oid, patient.id), headers=FHIR)
    assert posted.status == 200 and posted.body["type"] == "transaction-response", posted.body
    Bundle.model_validate(posted.body)
    assert posted.body["entry"][0]["response"]["status"] == "201 Created"
    again = lab.send("POST", "/fhir", lab_bundle(oid, patient.id), headers=FHIR)  # a LIS retry: the same report
    assert again.body["entry"][0]["response"]["status"] == "200 OK"
    assert again.body["entry"][0]["response"]["location"] == posted.body["entry"][0]["response"]["location"]
    other = lab.send("POST", "/fhir", lab_bundle(oid, patient.id, identifier="LIS-OTHER"), headers=FHIR)
    assert other.status == 409

    [result] = doctor.get(f"/v1/results?encounter_id={eid}")
    creatinine, protein = result["observations"]
    assert creatinine["flag"] == "H" and result["abnormal"] == 1 and result["status"] == "final"
    assert patient.api.get(f"/v1/results?patient_id={patient.id}") == []  # not released yet
    assert patient.api.send("GET", f"/v1/results/{result['id']}").status == 404
    released = doctor.post(f"/v1/results/{result['id']}/release")
    assert released["status"] == "released"
    assert doctor.send("POST", f"/v1/results/{result['id']}/release").status == 409
    assert [r["id"] for r in patient.api.get(f"/v1/results?patient_id={patient.id}")] == [result["id"]]
    told = wait_until(lambda: [n for n in stack.notifications(patient.id) if n.get("template") == "result_released"],
                      timeout=30, what="notify to tell the patient the results are ready")
    assert len(told) == 1

    # the patient's own logs, read by the doctor as a series
    for minute, systolic in ((30, 150), (40, 142)):
        assert patient.api.send("POST", f"/v1/patients/{patient.id}/logs", {
            "kind": "blood_pressure", "measured_at": f"2026-12-01T07:{minute}:00+08:00", "systolic": systolic,
            "diastolic": 92}).status == 201
    implausible = patient.api.send("POST", f"/v1/patients/{patient.id}/logs", {
        "kind": "weight", "measured_at": "2026-12-01T07:30:00+08:00", "value": 650})
    assert implausible.status == 422 and implausible.body["errors"][0]["field"] == "value"
    assert stranger.api.send("POST", f"/v1/patients/{patient.id}/logs", {
        "kind": "symptom", "measured_at": "2026-12-01T07:30:00+08:00", "note": "头晕"}).status == 403
    series = doctor.get(f"/v1/patients/{patient.id}/logs?kind=blood_pressure")
    assert [e["systolic"] for e in series] == [142, 150] and series[0]["unit"] == "mm[Hg]"  # newest first
    assert stranger.api.send("GET", f"/v1/patients/{patient.id}/logs").status == 403

    # the FHIR interface: the same rules, R4B resources
    fid = to_fhir(patient.id)
    statement = stack.api().get("/fhir/metadata")
    assert CapabilityStatement.model_validate(statement).fhirVersion == "4.3.0"
    everything = patient.api.get(f"/fhir/Patient/{fid}/$everything")
    parsed = Bundle.model_validate(everything)
    kinds = sorted({e.resource.get_resource_type() for e in parsed.entry})
    assert kinds == ["Appointment", "DiagnosticReport", "Encounter", "Observation", "Patient"], kinds
    encounters = doctor.get(f"/fhir/Encounter?patient=Patient/{fid}&_include=Encounter:patient"
                            f"&_revinclude=DiagnosticReport:encounter")
    Bundle.model_validate(encounters)
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in encounters["entry"]]
    assert ("Encounter", "match") in modes and ("Patient", "include") in modes and (
        "DiagnosticReport", "include") in modes
    vitals = Bundle.model_validate(patient.api.get(f"/fhir/Observation?patient={fid}&category=vital-signs"))
    assert [e.resource.component[0].valueQuantity.value for e in vitals.entry] == [142, 150]
    assert stranger.api.send("GET", f"/fhir/Patient/{fid}/$everything").status == 404
    refused = stranger.api.send("GET", f"/fhir/Encounter?patient={fid}")
    assert refused.status == 403 and refused.body["resourceType"] == "OperationOutcome"
    assert stranger.api.send("GET", f"/fhir/Encounter/{to_fhir(eid)}").status == 404
    unknown = doctor.send("GET", f"/fhir/Encounter?patient={fid}&flavour=sweet")
    assert unknown.status == 422 and unknown.body["issue"][0]["expression"] == ["flavour"]
    assert doctor.send("GET", f"/fhir/Encounter?patient={fid}&_include=Encounter:nothing").status == 422
    report = doctor.get(f"/fhir/DiagnosticReport/{to_fhir(result['id'])}")
    assert report["resourceType"] == "DiagnosticReport" and report["basedOn"][0]["reference"].endswith(to_fhir(oid))
