"""The encounters' use cases over an in-memory store: opening from booking's facts (or booking's answer for one not
heard of yet), the draft, signing (immutable, hashed, the follow-up advice in the event), an amendment that keeps the
original, closing, and who reads — every refusal audited."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.records.encounters import AmendmentRequest, EncounterQuery, EncounterRequest, ReportContent
from contracts.records.events import EncounterClosed, EncounterOpened, RecordAmended, ReportSigned
from services.records.encounters import usecases
from services.records.encounters.rules import KnownAppointment
from services.records.signing import content_hash
from tests.people import user
from tests.unit.records.encounters.fakes import FakeEncounterStore
from wenzhen.auth import Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
DOCTOR, OTHER_DOCTOR = user(Role.doctor, "acc_doc"), user(Role.doctor, "acc_doc2")
PATIENT, STRANGER = user(Role.patient, "acc_p", ("pat_1",)), user(Role.patient, "acc_q", ("pat_2",))
VISIT = KnownAppointment(id="apt_1", patient_id="pat_1", doctor_id="acc_doc", department="urology",
                         service="first_visit", kind="visit", online=False, status="confirmed", start=NOW)
REPORT = ReportContent(condition_analysis="尿频两周。", diagnoses=[{"code": "N41.1", "text": "慢性前列腺炎"}],
                       allergies=["amoxicillin"], follow_up_in_days=14)


def with_diagnoses(*diagnoses: dict) -> ReportContent:
    return ReportContent.model_validate({**REPORT.model_dump(), "diagnoses": list(diagnoses)})


def active(codes) -> set[str]:
    return {c for c in codes if c in {"N41.1", "I10"}}


@pytest.fixture
def store():
    found = FakeEncounterStore()
    found.appointments[VISIT.id] = VISIT
    return found


def opened(store, ask=lambda _id: None):
    return usecases.open_encounter(store, DOCTOR, EncounterRequest(appointment_id="apt_1"), ask, NOW)


def test_the_appointments_doctor_opens_it_once_and_booking_is_asked_for_one_not_heard_of(store):
    encounter = opened(store)
    assert encounter.mode == "in_person" and not encounter.follow_up
    assert isinstance(store.events(EncounterOpened)[0], EncounterOpened) and store.sequences == [(encounter.id, 1)]
    with pytest.raises(Conflict):
        opened(store)
    with pytest.raises(NotFound):
        usecases.open_encounter(store, OTHER_DOCTOR, EncounterRequest(appointment_id="apt_1"), lambda _id: None, NOW)
    asked = []
    store.appointments.clear()
    usecases.open_encounter(store, DOCTOR, EncounterRequest(appointment_id="apt_2"),
                            lambda aid: asked.append(aid) or replace(VISIT, id=aid), NOW)
    assert asked == ["apt_2"]


def test_an_amendment_keeps_the_original_and_every_version_is_hashed(store):
    eid = opened(store).id
    usecases.save_draft(store, DOCTOR, eid, REPORT, NOW)
    signed = usecases.sign(store, DOCTOR, eid, active, NOW)
    (v1,) = signed.report
    assert v1.content_hash == content_hash(REPORT.model_dump(mode="json")) and signed.draft is None
    event = store.events(ReportSigned)[0]
    assert event.follow_up_in_days == 14 and event.appointment_id == "apt_1" and event.diagnoses == 1
    assert store.allergies("pat_1") == ("amoxicillin",)
    with pytest.raises(Conflict):
        usecases.save_draft(store, DOCTOR, eid, REPORT, NOW)
    with pytest.raises(InvalidInput) as unchanged:
        usecases.amend(store, DOCTOR, eid, AmendmentRequest(reason="笔误", content=REPORT), active, NOW)
    assert unchanged.value.errors[0]["field"] == "content"
    corrected = with_diagnoses({"code": "N41.1", "text": "慢性前列腺炎（III型）"})
    amended = usecases.amend(store, DOCTOR, eid, AmendmentRequest(reason="分型补充", content=corrected), active, NOW)
    assert [v.version for v in amended.report] == [1, 2] and amended.report[0] == v1
    assert amended.report[1].reason == "分型补充" and store.events(RecordAmended)[0].report_version == 2
    closed = usecases.close(store, DOCTOR, eid, NOW)
    assert closed.status == "closed" and store.events(EncounterClosed)[0].report_signed
    late = usecases.amend(store, DOCTOR, eid, AmendmentRequest(reason="笔误", content=REPORT), active, NOW)
    assert [v.version for v in late.report] == [1, 2, 3]  # closed: still amendable, never rewritten


def test_signing_names_what_is_missing_and_unknown_codes(store):
    eid = opened(store).id
    with pytest.raises(InvalidInput) as nothing:
        usecases.sign(store, DOCTOR, eid, active, NOW)
    assert [e["field"] for e in nothing.value.errors] == ["draft"]
    usecases.save_draft(store, DOCTOR, eid, with_diagnoses({"code": "Z99.8", "text": "?"}), NOW)
    with pytest.raises(InvalidInput) as unknown:
        usecases.sign(store, DOCTOR, eid, active, NOW)
    assert [e["field"] for e in unknown.value.errors] == ["diagnoses[0].code"]
    with pytest.raises(Conflict):
        usecases.close(store, DOCTOR, eid, NOW)  # nothing signed yet


def test_who_reads_an_encounter_and_every_refusal_is_audited(store):
    eid = opened(store).id
    usecases.save_draft(store, DOCTOR, eid, REPORT, NOW)
    assert usecases.get_encounter(store, PATIENT, eid, NOW).draft is None  # the draft is the doctor's
    assert usecases.get_encounter(store, DOCTOR, eid, NOW).draft == REPORT
    for caller in (STRANGER, OTHER_DOCTOR, user(Role.pharmacist, "acc_ph")):
        with pytest.raises(NotFound):
            usecases.get_encounter(store, caller, eid, NOW)
    assert [a["outcome"] for a in store.audited[-3:]] == ["denied"] * 3
    store.appointments["apt_9"] = replace(VISIT, id="apt_9", doctor_id="acc_doc2")  # the other doctor's visit
    assert usecases.get_encounter(store, OTHER_DOCTOR, eid, NOW).id == eid
    assert usecases.list_encounters(store, OTHER_DOCTOR, EncounterQuery(patient_id="pat_1"), NOW)[0].id == eid
    later = NOW + timedelta(days=31)  # the care relationship from that visit has ended
    with pytest.raises(NotFound):
        usecases.get_encounter(store, OTHER_DOCTOR, eid, later)
    with pytest.raises(Forbidden):
        usecases.list_encounters(store, STRANGER, EncounterQuery(patient_id="pat_1"), NOW)
    with pytest.raises(Forbidden):
        usecases.save_draft(store, OTHER_DOCTOR, eid, REPORT, NOW)  # readers who are not its doctor never write


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_images_and_pdfs_are_kept_with_an_open_encounter_from_an_upload_or_the_patients_chat(store):
    from contracts.records.encounters import ChatAttachmentRequest

    eid = opened(store).id
    uploaded = usecases.add_attachment(store, DOCTOR, eid, PNG, "舌苔.png", NOW)
    assert uploaded.content_type == "image/png" and uploaded.from_consultation is None
    asked = []

    def chat_file(consultation_id, attachment_id, patient_id):
        asked.append((consultation_id, attachment_id, patient_id))
        return "化验单.pdf", b"%PDF-1.7 ..."

    kept = usecases.attach_from_chat(store, DOCTOR, eid, ChatAttachmentRequest(consultation_id="con_1",
                                                                               attachment_id="att_1"), chat_file, NOW)
    assert asked == [("con_1", "att_1", "pat_1")]  # intake is asked for the encounter's own patient only
    assert kept.content_type == "application/pdf" and kept.from_consultation == "con_1"
    with pytest.raises(InvalidInput):  # a chat's video is not kept in the record
        usecases.attach_from_chat(store, DOCTOR, eid, ChatAttachmentRequest(consultation_id="con_1",
                                                                            attachment_id="att_2"),
                                  lambda *_: ("v.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(16)), NOW)
    with pytest.raises(InvalidInput):
        usecases.add_attachment(store, DOCTOR, eid, b"MZ\x90\x00" * 8, "x.exe", NOW)
    with pytest.raises(NotFound):
        usecases.add_attachment(store, OTHER_DOCTOR, eid, PNG, None, NOW)
    read, data = usecases.read_attachment(store, PATIENT, eid, kept.id, NOW)
    assert data == b"%PDF-1.7 ..." and read.name == "化验单.pdf"
    assert [a.id for a in usecases.get_encounter(store, PATIENT, eid, NOW).attachments] == [uploaded.id, kept.id]
