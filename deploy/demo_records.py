"""Step 5 of ``make demo``: a follow-up video visit ends with a signed report and a prescription that a pharmacist
approves, then the laboratory's results arrive as FHIR and the record is read back as FHIR. It uses the patient the
consultant registered and verified in step 3, and fresh staff and a clinic of this run's own, so it works on a
system already in use."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from deploy.demo import Actor, Journey, StepFailed, detail, heading, new_staff, note
from wenzhen.ids import to_fhir
from wenzhen.timez import hospital_zone

REPORT = {"condition_analysis": "高血压病史五年，外院确诊（门诊病历）。近两周家测血压 145–150/90–95 mmHg，无头痛胸闷。",
          "diagnoses": [{"code": "I10", "text": "原发性高血压（1级）"}],
          "treatment_plan": "继续降压治疗，低盐饮食，规律运动。", "cautions": "监测血压，如出现头晕乏力及时就诊。",
          "follow_up_advice": "四周后视频复诊，带家庭血压记录。", "follow_up_in_days": 28}
AMLODIPINE = {"drug_code": "AML-5-TAB", "dose": "5 mg", "route": "oral", "frequency": "qd", "days": 7,
              "quantity": 1, "instructions": "每日早晨服用"}


@dataclass
class RecordsOutcome:
    encounter_id: str
    prescription_id: str
    result_id: str
    fhir_entries: int


def records_journey(journey: Journey, admin: Actor, consultant: Actor, patient_id: str) -> RecordsOutcome:
    heading("5", "A follow-up video visit: the report, a prescription under the rules, the pharmacist, results")
    run = journey.run
    doctor = new_staff(journey, admin, "doctor", {
        "username": f"cardio.{run}", "name": "王立平", "role": "doctor", "department": f"cardio_{run}",
        "title": "主治医师", "licence_number": f"11{run[:6]}0001", "practising_since": "2015-07-01"})
    pharmacist = new_staff(journey, admin, "pharmacist", {
        "username": f"pharm.{run}", "name": "林药", "role": "pharmacist", "department": "pharmacy",
        "title": "主管药师", "licence_number": f"PH{run[:6]}01", "practising_since": "2016-03-01"})
    lab = new_staff(journey, admin, "lab", {"username": f"lis.{run}", "name": "检验科接口", "role": "lab",
                                            "department": "laboratory"})
    manager = new_staff(journey, admin, "manager", {"username": f"mgr.{run}", "name": "孙经理", "role": "manager"})
    slot = _clinic(journey, manager, doctor, run)

    note("the consultant books the online follow-up; she brings her earlier hospital's record, which the consultant "
         "checked (an online diagnosis needs a prior in-person one)")
    booked = journey.step(consultant, "POST", "/v1/appointments", {
        "patient_id": patient_id, "slot_id": slot["id"],
        "prior_diagnosis": {"source": "record", "reference": "外院门诊病历 2021-03 高血压"}}, expect=201,
        show=lambda b: f"{b['id']} {b['service']} {b['kind']} {b['status']} at {b['start']}")
    if booked["kind"] != "online_diagnosis":
        raise StepFailed(f"the booking is {booked['kind']}, not an online diagnosis")

    note("at the visit the doctor opens its encounter (video), writes the report and signs it")
    encounter = journey.step(doctor, "POST", "/v1/encounters", {"appointment_id": booked["id"]}, expect=201,
                             show=lambda b: f"{b['id']} {b['mode']}, follow-up {b['follow_up']}, prior in-person "
                                            f"diagnosis {b['prior_in_person_diagnosis']}")
    eid = encounter["id"]
    journey.step(doctor, "PUT", f"/v1/encounters/{eid}/report", REPORT)
    journey.step(doctor, "POST", f"/v1/encounters/{eid}/report/sign",
                 show=lambda b: f"version {b['report'][0]['version']}, SHA-256 {b['report'][0]['content_hash'][:16]}…")

    note("a sleeping pill online is refused by the rules, with the rule's name")
    journey.step(doctor, "POST", f"/v1/encounters/{eid}/prescriptions", {
        "items": [{**AMLODIPINE, "drug_code": "ZOL-10-TAB", "dose": "10 mg", "frequency": "qn", "days": 10}],
        "diagnoses": ["G47.0"]}, expect=422,
        show=lambda b: [f"{e['type']}: {e['field']} {e['message']}" for e in b["errors"]])
    rx = journey.step(doctor, "POST", f"/v1/encounters/{eid}/prescriptions",
                      {"items": [AMLODIPINE], "diagnoses": ["I10"]}, expect=201,
                      show=lambda b: f"{b['id']} {b['status']}: {b['items'][0]['name']} {b['items'][0]['strength']}, "
                                     f"{b['total_fen']} fen, valid until {b['valid_until']}")

    note("the pharmacist's queue; approving makes it take effect (pharmacy may dispense it from now)")
    queue = journey.step(pharmacist, "GET", "/v1/prescriptions?status=pending_review&limit=200",
                         show=lambda b: f"{len(b)} waiting for review")
    if rx["id"] not in [q["id"] for q in queue]:
        raise StepFailed("the prescription is not in the pharmacist's queue")
    journey.step(pharmacist, "POST", f"/v1/prescriptions/{rx['id']}/review", {"outcome": "approve"},
                 show=lambda b: f"{b['status']} (reviewed by {b['review']['reviewer_id']})")

    note("the doctor orders blood tests; the laboratory system answers with a FHIR transaction Bundle")
    order = journey.step(doctor, "POST", f"/v1/encounters/{eid}/orders", {"tests": ["血脂四项", "肾功能"]},
                         expect=201, show=lambda b: f"{b['id']} {b['status']}")
    journey.step(lab, "POST", "/fhir", {"resourceType": "Patient"}, expect=422,
                 show=lambda b: [f"{i['code']}: {i['diagnostics']}" for i in b["issue"]])
    answered = journey.step(lab, "POST", "/fhir", _lab_bundle(order["id"], patient_id),
                            show=lambda b: [e["response"]["status"] + " " + e["response"]["location"]
                                            for e in b["entry"]])
    result_id = "res_" + answered["entry"][0]["response"]["location"].split("/res-")[1]
    journey.step(doctor, "POST", f"/v1/results/{result_id}/release",
                 show=lambda b: [f"{o['name']} {o.get('value', o.get('text'))} {o.get('unit') or ''} "
                                 f"[{o.get('flag') or '-'}]" for o in b["observations"]])
    journey.step(doctor, "POST", f"/v1/encounters/{eid}/close", show=lambda b: f"{b['status']} at {b['closed_at']}")

    note("the record as other hospital systems read it: FHIR R4 (4.3.0)")
    everything = journey.step(doctor, "GET", f"/fhir/Patient/{to_fhir(patient_id)}/$everything",
                              show=lambda b: _kinds(b))
    return RecordsOutcome(eid, rx["id"], result_id, len(everything["entry"]))


def _clinic(journey: Journey, manager: Actor, doctor: Actor, run: str) -> dict:
    """A department, the doctor's profile and online video sessions tomorrow (an online service has no room); a free
    slot."""
    department = f"cardio_{run}"
    journey.step(manager, "POST", "/v1/departments", {"code": department, "name_zh": "心内科",
                                                      "name_en": "Cardiology"}, expect=201)
    journey.step(manager, "POST", "/v1/doctors", {
        "doctor_id": doctor.account_id, "display_name": "王立平", "department": department, "title": "主治医师",
        "fee_level": "主治医师号", "fee_fen": 3000, "licence_number": f"11{run[:6]}0001",
        "services": ["follow_up", "online_video"]}, expect=201)
    day = datetime.now(hospital_zone()).date() + timedelta(days=1)
    journey.step(manager, "PUT", f"/v1/doctors/{doctor.account_id}/schedule", {"sessions": [
        {"weekday": day.isoweekday(), "start": "14:00", "end": "17:00", "service": "online_video"}]})
    path = f"/v1/doctors/{doctor.account_id}/slots?from={day}&to={day}&service=online_video"
    deadline = time.monotonic() + 20
    while True:
        slots = journey.as_(manager).send("GET", path).body
        if slots:
            detail(f"{len(slots)} online video slots tomorrow, the first at {slots[0]['start']}")
            return slots[0]
        if time.monotonic() > deadline:
            raise StepFailed("no slots were generated for the doctor's schedule")
        time.sleep(0.3)


def _lab_bundle(order_id: str, patient_id: str) -> dict:
    patient, order = f"Patient/{to_fhir(patient_id)}", f"ServiceRequest/{to_fhir(order_id)}"

    def observation(n: int, code: str, name: str, value: float, unit: str, low: float, high: float) -> dict:
        return {"fullUrl": f"urn:uuid:5d3c1f2e-0000-4000-8000-{n:012d}", "request": {"method": "POST",
                                                                                    "url": "Observation"},
                "resource": {"resourceType": "Observation", "status": "final", "subject": {"reference": patient},
                             "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": name},
                             "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                               "code": unit},
                             "referenceRange": [{"low": {"value": low}, "high": {"value": high}}]}}

    observations = [observation(1, "2093-3", "总胆固醇", 6.1, "mmol/L", 2.8, 5.2),
                    observation(2, "2571-8", "甘油三酯", 1.4, "mmol/L", 0.56, 1.7),
                    observation(3, "2160-0", "血肌酐", 78, "umol/L", 57, 111)]
    report = {"resourceType": "DiagnosticReport", "status": "final",
              "identifier": [{"system": "urn:lis:demo", "value": f"LIS-{order_id}"}],
              "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
              "code": {"text": "血脂四项 + 肾功能"}, "basedOn": [{"reference": order}],
              "subject": {"reference": patient},
              "conclusion": "总胆固醇偏高。", "result": [{"reference": o["fullUrl"]} for o in observations]}
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": "urn:uuid:5d3c1f2e-0000-4000-8000-0000000000aa", "resource": report,
                       "request": {"method": "POST", "url": "DiagnosticReport"}}, *observations]}


def _kinds(bundle: dict) -> str:
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())

