"""Every FHIR resource the gateway serves validates against fhir.resources' R4B models (FHIR 4.3.0), built from the
services' contract models as their RPCs answer them; and what the mappings say (ids, statuses, validity and supply,
codes, references)."""
from __future__ import annotations

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from contracts.booking import schemas as booking
from contracts.intake.patients import Patient as PatientModel
from contracts.records.encounters import Encounter as EncounterModel
from contracts.records.prescriptions import Prescription
from contracts.records.results import LogEntry, Result
from gateway.fhir import resources as fhir
from gateway.fhir.capability import capability_statement
from gateway.fhir.search import matches_date

PAT, ENC, RX, APT, RES = ("pat_01M93QFBEAY7PNK4TNKA2BYH70", "enc_01M93QFBEAY7PNK4TNKA2BYH71",
                          "rx_01M93QFBEAY7PNK4TNKA2BYH72", "apt_01M93QFBEAY7PNK4TNKA2BYH73",
                          "res_01M93QFBEAY7PNK4TNKA2BYH74")
T0, T1 = "2026-12-05T10:00:00.000+08:00", "2026-12-05T10:40:00.000+08:00"
VERSION = {"content": {"condition_analysis": "血压控制欠佳。", "diagnoses": [{"code": "I10", "text": "原发性高血压"},
                                                                           {"code": "E78.5", "text": "高脂血症"}]},
           "content_hash": "0" * 64, "signed_by": "acc_doc", "signed_at": T1}
ENCOUNTER = EncounterModel.model_validate({
    "id": ENC, "patient_id": PAT, "doctor_id": "acc_doc", "appointment_id": APT, "department": "cardiology",
    "mode": "video", "online": True, "follow_up": True, "prior_in_person_diagnosis": True, "status": "closed",
    "opened_at": T0, "closed_at": T1, "report": [{**VERSION, "version": 1}]}).model_dump(mode="json")
ITEM = {"drug_code": "AML-5-TAB", "name": "苯磺酸氨氯地平片", "ingredient": "amlodipine", "atc": "C08CA01",
        "strength": "5 mg", "form": "tablet", "unit": "盒 (28 片)", "price_fen": 2960, "categories": [], "dose": "5 mg",
        "route": "oral", "frequency": "qd", "days": 28, "quantity": 1}
PRESCRIPTION = Prescription.model_validate({
    "id": RX, "encounter_id": ENC, "patient_id": PAT, "doctor_id": "acc_doc", "status": "took_effect",
    "kind": "long_term", "items": [ITEM, {**ITEM, "drug_code": "ATV-20-TAB", "name": "阿托伐他汀钙片",
                                          "ingredient": "atorvastatin", "atc": "C10AA05", "strength": "20 mg",
                                          "frequency": "qn"}],
    "diagnoses": [{"code": "I10", "name": "原发性高血压"}], "stable_chronic": True, "content_hash": "0" * 64,
    "signed_at": T1, "valid_until": "2026-12-06T00:00:00.000+08:00", "validity_days": 1, "supply_days": 28,
    "total_fen": 5110, "cold_chain": False, "retention": {"years": 1, "until": "2027-12-05T10:40:00.000+08:00"},
    "review": {"reviewer_id": "acc_ph", "outcome": "approve", "at": T1}}).model_dump(mode="json")
RESULT = Result.model_validate({
    "id": RES, "order_id": "ord_01M93QFBEAY7PNK4TNKA2BYH75", "encounter_id": ENC, "patient_id": PAT,
    "category": "LAB", "status": "released", "conclusion": "血肌酐轻度升高。", "abnormal": 1, "issued": T0,
    "recorded_by": "acc_lab", "source": "lab", "released_at": T1,
    "observations": [{"id": "obs_01M93QFBEAY7PNK4TNKA2BYH76", "code": "2160-0", "name": "血肌酐", "value": 132.0,
                      "unit": "umol/L", "reference_range": {"low": 57, "high": 111}, "flag": "H"},
                     {"id": "obs_01M93QFBEAY7PNK4TNKA2BYH77", "code": "5804-0", "name": "尿蛋白", "text": "阴性",
                      "reference_range": {"text": "阴性"}, "flag": "N"}]}).model_dump(mode="json")


def test_patient():
    p = PatientModel.model_validate({
        "id": PAT, "name": "李秀英", "sex": "female", "birth_date": "1958-03-04", "phone": "13812345678",
        "address": "上海市某路1号", "registered_at": T0,
        "identity": {"document_type": "resident_id", "number": "110***********002X", "status": "verified",
                     "method": "in_person", "verified_at": T0}}).model_dump(mode="json")
    resource = Patient.model_validate(fhir.patient(p))
    assert resource.id == "pat-01M93QFBEAY7PNK4TNKA2BYH70" and resource.gender == "female"


def test_an_encounter_and_the_conditions_of_its_current_report():
    encounter = Encounter.model_validate(fhir.encounter(ENCOUNTER))
    assert encounter.status == "finished" and encounter.class_fhir.code == "VR"
    assert encounter.subject.reference == "Patient/pat-01M93QFBEAY7PNK4TNKA2BYH70"
    assert [d.condition.reference for d in encounter.diagnosis] == [
        "Condition/enc-01M93QFBEAY7PNK4TNKA2BYH71-dx1", "Condition/enc-01M93QFBEAY7PNK4TNKA2BYH71-dx2"]
    conditions = [Condition.model_validate(c) for c in fhir.conditions(ENCOUNTER)]
    assert [c.code.coding[0].code for c in conditions] == ["I10", "E78.5"]
    assert conditions[0].encounter.reference == "Encounter/enc-01M93QFBEAY7PNK4TNKA2BYH71"
    open_one = {**ENCOUNTER, "status": "open", "closed_at": None, "report": []}
    assert Encounter.model_validate(fhir.encounter(open_one)).status == "in-progress"
    assert fhir.conditions(open_one) == []


def test_a_prescription_is_one_medication_request_per_drug_with_validity_and_supply():
    requests = [MedicationRequest.model_validate(m) for m in fhir.medication_requests(PRESCRIPTION)]
    assert [m.id for m in requests] == ["rx-01M93QFBEAY7PNK4TNKA2BYH72-1", "rx-01M93QFBEAY7PNK4TNKA2BYH72-2"]
    first = requests[0]
    assert first.status == "active" and first.intent == "order" and first.groupIdentifier.value == RX
    period = first.dispenseRequest.validityPeriod
    assert period.start.isoformat() == "2026-12-05T02:40:00+00:00" and period.end.isoformat().startswith(
        "2026-12-05T16:00:00")
    assert first.dispenseRequest.expectedSupplyDuration.value == 28
    assert first.dispenseRequest.expectedSupplyDuration.code == "d"
    assert first.courseOfTherapyType.coding[0].code == "continuous"
    for status, fhir_status in (("pending_review", "on-hold"), ("rejected", "cancelled"), ("lapsed", "cancelled")):
        m = MedicationRequest.model_validate(fhir.medication_requests({**PRESCRIPTION, "status": status})[0])
        assert m.status == fhir_status and m.statusReason.text


def test_an_appointment():
    a = booking.Appointment.model_validate({
        "id": APT, "patient_id": PAT, "doctor_id": "acc_doc", "department": "cardiology", "service": "online_video",
        "kind": "online_diagnosis", "status": "completed", "slot_id": "slot_x", "start": T0, "end": T1,
        "online": True, "fee_fen": 5000, "prepayment": False, "booked_at": T0, "booked_by_role": "patient"}
    ).model_dump(mode="json")
    resource = Appointment.model_validate(fhir.appointment(a))
    assert resource.status == "fulfilled" and resource.participant[0].actor.reference.startswith("Patient/pat-")


def test_results_and_their_observations():
    report = DiagnosticReport.model_validate(fhir.diagnostic_report(RESULT))
    assert report.basedOn[0].reference == "ServiceRequest/ord-01M93QFBEAY7PNK4TNKA2BYH75"
    observations = [Observation.model_validate(o) for o in fhir.result_observations(RESULT)]
    creatinine, protein = observations
    assert creatinine.valueQuantity.value == 132 and creatinine.interpretation[0].coding[0].code == "H"
    assert creatinine.referenceRange[0].high.value == 111 and protein.valueString == "阴性"
    assert [r.reference for r in report.result] == [f"Observation/{o.id}" for o in observations]


def test_the_patients_own_logs_as_vital_signs():
    base = {"id": "log_01M93QFBEAY7PNK4TNKA2BYH78", "patient_id": PAT, "measured_at": T0, "recorded_at": T1}
    for entry in ({**base, "kind": "blood_pressure", "systolic": 150, "diastolic": 95, "unit": "mm[Hg]"},
                  {**base, "kind": "glucose", "value": 6.8, "unit": "mmol/L", "timing": "fasting"},
                  {**base, "kind": "weight", "value": 71.5, "unit": "kg", "note": "早餐前"},
                  {**base, "kind": "symptom", "note": "晨起头晕"}):
        resource = Observation.model_validate(fhir.log_observation(LogEntry.model_validate(entry).model_dump(
            mode="json")))
        assert resource.category[0].coding[0].code == ("survey" if entry["kind"] == "symptom" else "vital-signs")
    bp = fhir.log_observation({**base, "kind": "blood_pressure", "systolic": 150, "diastolic": 95})
    assert [c["valueQuantity"]["value"] for c in bp["component"]] == [150, 95]


def test_a_searchset_with_includes_an_outcome_and_the_capability_statement():
    bundle = fhir.searchset([fhir.encounter(ENCOUNTER)], fhir.conditions(ENCOUNTER) + [fhir.encounter(ENCOUNTER)],
                            "http://h/fhir", "http://h/fhir/Encounter?patient=x")
    parsed = Bundle.model_validate(bundle)
    assert parsed.total == 1 and [e.search.mode for e in parsed.entry] == ["match", "include", "include"]
    outcome = OperationOutcome.model_validate(fhir.operation_outcome(422, "bad", [
        {"field": "Bundle.entry[1].resource.valueQuantity.value", "message": "not a decimal", "type": "structure"}]))
    assert outcome.issue[0].expression == ["Bundle.entry[1].resource.valueQuantity.value"]
    assert OperationOutcome.model_validate(fhir.operation_outcome(404, "No such thing.", [])).issue[0].code == (
        "not-found")
    statement = CapabilityStatement.model_validate(capability_statement("http://h/fhir", "2026-12-05"))
    assert statement.fhirVersion == "4.3.0"
    kinds = {r.type: r for r in statement.rest[0].resource}
    assert set(kinds) == {"Patient", "Encounter", "Condition", "MedicationRequest", "Appointment",
                          "DiagnosticReport", "Observation", "AuditEvent"}
    assert "Condition:encounter" in kinds["Encounter"].searchRevInclude


def test_date_prefixes():
    moment = "2026-12-05T02:00:00.000Z"  # 10:00 in Shanghai, 5 December
    assert matches_date(moment, ["2026-12-05"]) and not matches_date(moment, ["2026-12-04"])
    assert matches_date(moment, ["ge2026-12-05", "lt2026-12-06"]) and not matches_date(moment, ["gt2026-12-05"])
    assert matches_date(moment, ["le2026-12-05"]) and matches_date(moment, ["ne2026-12-01"])
    assert matches_date(moment, []) and not matches_date(None, ["ge2026-01-01"])
