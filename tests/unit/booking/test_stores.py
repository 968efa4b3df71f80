"""What the stores write and read back, without a database: typed records to documents and back (the shape stays
the one the integration tests and the bench read), and personal fields encrypted on the way in (the shown name of a
doctor, the note of a follow-up plan). The stores' queries themselves run against SecantusDB in
tests/integration/test_booking.py."""
from __future__ import annotations

from dataclasses import replace

from contracts.booking.schemas import (
    DoctorInput,
    FollowUpRequest,
    HalfDay,
    HalfDayChoice,
    PriorDiagnosis,
    Status,
    Visit,
    WaitlistRequest,
    WaitlistStatus,
)
from services.booking.appointments.rules import Offer, new_appointment
from services.booking.appointments.store import appointment_document, appointment_record
from services.booking.catalogue.rules import service_settings
from services.booking.catalogue.store import DOCTORS, CatalogueStore
from services.booking.followups.rules import new_plan
from services.booking.followups.store import PLANS, FollowUpStore
from services.booking.schedules.store import slot_document, slot_record
from services.booking.scope import Scope
from services.booking.waitlist import rules as waitlist_rules
from services.booking.waitlist.store import entry_document, entry_record
from tests.unit.booking.clinic import KEYS, MONDAY, NOW, OTHER_PATIENT, PROFILE, local, on_day, week_slots

SLOT = on_day(week_slots(), MONDAY)[0]


class Collection:
    """Records what is written; ``find`` answers what was inserted (no query language)."""

    def __init__(self) -> None:
        self.docs: list[dict] = []

    def insert_one(self, doc: dict) -> None:
        self.docs.append(doc)

    def find(self, *_args, **_kwargs):
        return Cursor(self.docs)


class Cursor(list):
    def sort(self, *_args):
        return self

    def limit(self, _n):
        return self


class Db:
    def __init__(self) -> None:
        self.collections: dict[str, Collection] = {}

    def __getitem__(self, name: str) -> Collection:
        return self.collections.setdefault(name, Collection())


def test_a_slot_record_is_its_document():
    assert slot_record(slot_document(SLOT)) == SLOT


def test_an_appointment_record_is_its_document_and_what_happened_later():
    made = new_appointment(appointment_id="apt_1", patient_id="pat_1", slot=SLOT, doctor=PROFILE,
                           settings=service_settings(SLOT.service, {}), kind=Visit.online_diagnosis, notice="n",
                           status=Status.confirmed, now=NOW, booked_by="acc_c1", booked_by_role="consultant",
                           follow_up_of="apt_0", consultation_id="con_1",
                           prior_diagnosis=PriorDiagnosis(source="record", reference="MZ1"),
                           half_day=HalfDayChoice(half_day=HalfDay.morning, default_time="10:00", chosen_time="08:00",
                                                  exact=False, note="x"), version=2)
    doc = appointment_document(made)
    assert len(doc) == 30 and doc["version"] == 2 and doc["status"] == "confirmed"
    assert doc["half_day"]["half_day"] == "morning"
    assert appointment_record(doc) == made
    later = {**doc, "status": "cancelled", "holds_slot": False, "cancelled_at": NOW, "cancel_reason": "other",
             "late_cancel": True, "fee_kept": False, "cancelled_by": "acc_p1", "reminded": {"h24": {"sent": True}}}
    assert appointment_record(later) == replace(made, status=Status.cancelled, holds_slot=False, cancelled_at=NOW,
                                                cancel_reason="other", late_cancel=True, fee_kept=False,
                                                cancelled_by="acc_p1", reminded={"h24": {"sent": True}})


def test_a_waitlist_entry_record_is_its_document():
    full = replace(SLOT, booked=1, free=0)
    target = waitlist_rules.slot_target(full, SLOT.id, holds_place=False, now=NOW)
    entry = waitlist_rules.new_entry("wl_1", WaitlistRequest(patient_id="pat_2", slot_id=SLOT.id), target,
                                     Visit.visit, None, OTHER_PATIENT.principal, NOW)
    doc = entry_document(entry)
    assert doc["target"] == SLOT.id and doc["active"] and doc["offer"] is None and entry_record(doc) == entry
    offered = {**doc, "status": "offered", "offers": 1,
               "offer": {"appointment_id": "apt_9", "slot_id": SLOT.id, "start": SLOT.start, "expires_at": NOW}}
    assert entry_record(offered) == replace(entry, status=WaitlistStatus.offered, offers=1,
                                            offer=Offer("apt_9", SLOT.id, SLOT.start, NOW))


def test_a_doctor_s_shown_name_is_encrypted_at_rest():
    db = Db()
    doctor = CatalogueStore(db, KEYS).insert_doctor(db, DoctorInput.model_validate({
        "doctor_id": "acc_doc1", "display_name": "李明", "department": "urology", "title": "主任医师",
        "fee_level": "主任医师号", "fee_fen": 5000, "licence_number": "110440000012345",
        "services": ["first_visit"]}), NOW)
    assert doctor.display_name == "李明" and "李明" not in str(db[DOCTORS].docs)


def test_a_follow_up_note_is_encrypted_at_rest_and_read_back():
    db = Db()
    visit = replace(new_appointment(appointment_id="apt_1", patient_id="pat_1", slot=SLOT, doctor=PROFILE,
                                    settings=service_settings(SLOT.service, {}), kind=Visit.visit, notice=None,
                                    status=Status.completed, now=NOW, booked_by="acc_p1", booked_by_role="patient"),
                    completed_at=local(MONDAY, "08:20"))
    plan = new_plan("fup_1", visit, FollowUpRequest(after_days=7, note="复查尿常规"), 3, "acc_doc1", NOW)
    store = FollowUpStore(db, KEYS)
    store.insert_plan(db, plan)
    assert "复查" not in str(db[PLANS].docs) and db[PLANS].docs[0]["note"]
    (read,) = store.plans(Scope(patient_id="pat_1"))
    assert read == replace(plan, reminded_at=None) and read.note == "复查尿常规"
